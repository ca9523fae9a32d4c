/* escape_probe: run inside a container, it tries what a container must not do to the kernel
 * and the devices it runs on, and prints one line per attempt: "<row>: <result>", where the
 * result is "ok" (it worked), an errno name, or a value. Built static (tests/CMakeLists) so it
 * runs in any image; the tests copy it in and compare the table with what Docker allows
 * (tests/e2e/test_vm_security.py, tests/unit/agent_client_test.cc). Never run it on a host. */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/keyctl.h>
#include <linux/reboot.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *errname(int e) {
  switch (e) {
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case EROFS: return "EROFS";
    case ENOSYS: return "ENOSYS";
    case ENOENT: return "ENOENT";
    case EBADF: return "EBADF";
    case EFAULT: return "EFAULT";
    case EINVAL: return "EINVAL";
    case EEXIST: return "EEXIST";
    case EBUSY: return "EBUSY";
    case ENODEV: return "ENODEV";
    case ENXIO: return "ENXIO";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    default: {
      static char buf[32];
      snprintf(buf, sizeof buf, "errno%d", e);
      return buf;
    }
  }
}

static void row(const char *name, long rc) {
  if (rc < 0) printf("%s: %s\n", name, errname(errno));
  else printf("%s: ok\n", name);
}

static void status_field(const char *field, const char *row_name) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  size_t n = strlen(field);
  while (f && fgets(line, sizeof line, f)) {
    if (strncmp(line, field, n) == 0 && line[n] == ':') {
      char *v = line + n + 1;
      while (*v == ' ' || *v == '\t') v++;
      v[strcspn(v, "\n")] = 0;
      printf("%s: %s\n", row_name, v);
    }
  }
  if (f) fclose(f);
}

/* The major number of a driver in /proc/devices ("Character devices:" or "Block devices:"). */
static int major_of(const char *section, const char *driver) {
  FILE *f = fopen("/proc/devices", "r");
  char line[128];
  int in = 0, major = -1;
  while (f && fgets(line, sizeof line, f)) {
    if (strncmp(line, section, strlen(section)) == 0) in = 1;
    else if (line[0] == '\n' || (line[0] != ' ' && isalpha((unsigned char)line[0]))) in = 0;
    else if (in) {
      int m;
      char name[64];
      if (sscanf(line, "%d %63s", &m, name) == 2 && strcmp(name, driver) == 0) major = m;
    }
  }
  if (f) fclose(f);
  return major;
}

/* mknod of a device node at `path`, then open it: both results. */
static void node(const char *row_name, const char *path, mode_t type, int major, int minor) {
  char name[64];
  unlink(path);
  snprintf(name, sizeof name, "mknod_%s", row_name);
  row(name, mknod(path, type | 0600, makedev(major, minor)));
  snprintf(name, sizeof name, "open_%s", row_name);
  int fd = open(path, O_RDWR | O_NONBLOCK);
  row(name, fd);
  if (fd >= 0) close(fd);
  unlink(path);
}

static void writes(const char *row_name, const char *path) {
  int fd = open(path, O_WRONLY);
  if (fd >= 0) {
    close(fd);
    printf("%s: ok\n", row_name);
  } else {
    printf("%s: %s\n", row_name, errname(errno));
  }
}

static void setuid_row(const char *self) {
  /* A set-user-id root copy of this probe, run as nobody: with no_new_privs it stays nobody. */
  const char *copy = "/tmp/.zunvm-suid-probe";
  int in = open(self, O_RDONLY), out = open(copy, O_WRONLY | O_CREAT | O_TRUNC, 0755);
  char buf[65536];
  ssize_t n;
  while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof buf)) > 0) {
    if (write(out, buf, (size_t)n) != n) break;
  }
  if (in >= 0) close(in);
  if (out >= 0) close(out);
  if (chown(copy, 0, 0) != 0 || chmod(copy, 04755) != 0) {
    printf("setuid_euid: %s\n", errname(errno));
    return;
  }
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    if (setgid(65534) != 0 || setuid(65534) != 0) _exit(2);
    execl(copy, copy, "suid-child", (char *)NULL);
    _exit(3);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  unlink(copy);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "suid-child") == 0) {
    printf("setuid_euid: %d\n", (int)geteuid());
    return 0;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  status_field("CapEff", "capeff");
  status_field("CapBnd", "capbnd");
  status_field("NoNewPrivs", "no_new_privs");
  status_field("Seccomp", "seccomp");
  mkdir("/tmp/.zunvm-mnt", 0700);
  row("mount", mount("none", "/tmp/.zunvm-mnt", "tmpfs", 0, ""));
  rmdir("/tmp/.zunvm-mnt");
  row("unshare_mount_ns", unshare(CLONE_NEWNS));
  {
    long pid = syscall(SYS_clone, (unsigned long)(CLONE_NEWUSER | SIGCHLD), 0, 0, 0, 0);
    if (pid == 0) _exit(0);
    if (pid > 0) waitpid((pid_t)pid, NULL, 0);
    row("clone_new_user_ns", pid);
  }
  {
    char args[88] = {0};
    long pid = syscall(435 /* clone3 */, args, sizeof args);
    if (pid == 0) _exit(0);
    if (pid > 0) waitpid((pid_t)pid, NULL, 0);
    row("clone3", pid);
  }
  row("finit_module", syscall(SYS_finit_module, -1, "", 0));
  row("add_key", syscall(SYS_add_key, "user", "zunvm-probe", "x", 1, KEY_SPEC_PROCESS_KEYRING));
  row("keyctl", syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0));
  row("reboot", syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_CAD_OFF, 0));
  row("bpf", syscall(SYS_bpf, 5 /* BPF_PROG_LOAD */, NULL, 0));
  row("perf_event_open", syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0));
  row("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0));
  row("swapon", swapon("/nonexistent-swap", 0));
  {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    row("settimeofday", settimeofday(&tv, NULL));
  }
  row("sethostname", sethostname("probe", 5));
  row("io_uring_setup", syscall(425 /* io_uring_setup */, 1, NULL));
  row("open_by_handle_at", syscall(SYS_open_by_handle_at, AT_FDCWD, NULL, O_RDONLY));
  {
    int port = major_of("Character devices:", "virtio-portsdev");
    int disk = major_of("Block devices:", "virtblk");
    /* The agent's virtio-serial port and the first disk of the guest (in a VM), else the
     * host's /dev/null (char 1:3) as a stand-in node. */
    if (port >= 0) node("port", "/tmp/.zunvm-node", S_IFCHR, port, 1);
    else node("port", "/tmp/.zunvm-node", S_IFCHR, 1, 3);
    if (disk >= 0) node("disk", "/tmp/.zunvm-node", S_IFBLK, disk, 0);
    node("port_in_dev", "/dev/.zunvm-node", S_IFCHR, port >= 0 ? port : 1, port >= 0 ? 1 : 3);
  }
  {
    char buf[4096];
    int fd = open("/proc/kcore", O_RDONLY);
    if (fd < 0) printf("kcore_bytes: %s\n", errname(errno));
    else {
      ssize_t n = read(fd, buf, sizeof buf);
      printf("kcore_bytes: %zd\n", n);
      close(fd);
    }
  }
  writes("write_proc_sys", "/proc/sys/kernel/domainname");
  writes("write_sysrq_trigger", "/proc/sysrq-trigger");
  writes("write_sys", "/sys/kernel/rcu_expedited");
  {
    DIR *d = opendir("/sys/class/virtio-ports");
    int n = 0;
    if (d) {
      struct dirent *e;
      while ((e = readdir(d))) n += e->d_name[0] != '.';
      closedir(d);
      printf("virtio_ports_listed: %d\n", n);
    } else {
      printf("virtio_ports_listed: %s\n", errname(errno));
    }
  }
  setuid_row(argv[0]);
  return 0;
}
