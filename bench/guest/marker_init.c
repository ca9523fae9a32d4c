/* marker_init: the /init of the "floor" initramfs used by bench/guest/guest_bench.py.
 *
 * It does the least userspace work that still gets a byte to the host over the agent's
 * channel, with the same kernel and modules as the real image:
 *   - mount proc, sysfs and devtmpfs (same flags as zunvm-agent),
 *   - load /lib/modules/modules.order with finit_module(fd, "", 0), in order (EEXIST is fine),
 *   - find the virtio port named org.zunvm.agent.0 under /sys/class/virtio-ports, polling
 *     every 2 ms for up to 10 s like the agent, and open /dev/<vportNpM>,
 *   - write "READY\n" (the write blocks in the guest until the host has connected),
 *   - then wait forever: the bench destroys the domain.
 * On any failure it logs to /dev/kmsg (shown on the serial console even with `quiet`) and
 * powers the VM off, so the bench sees the domain go away instead of waiting for a deadline.
 *
 * Build: gcc -static -O2 -o marker_init marker_init.c
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PORT_NAME "org.zunvm.agent.0"
#define PORT_TIMEOUT_MS 10000

static void klog(const char *fmt, ...) {
  char buf[512];
  int n = snprintf(buf, sizeof buf, "<3>marker_init: ");
  va_list ap;
  va_start(ap, fmt);
  n += vsnprintf(buf + n, sizeof buf - (size_t)n, fmt, ap);
  va_end(ap);
  if (n >= (int)sizeof buf - 1) n = (int)sizeof buf - 2;
  buf[n++] = '\n';
  int fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
  if (fd >= 0) {
    (void)!write(fd, buf, (size_t)n);
    close(fd);
  }
}

static void die(void) {
  sync();
  reboot(RB_POWER_OFF);
  for (;;) pause();
}

static long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static int mount_pseudo(void) {
  static const struct {
    const char *src, *dst, *type;
    unsigned long flags;
    const char *data;
  } m[] = {
      {"proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL},
      {"sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL},
      {"devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755"},
  };
  for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
    mkdir(m[i].dst, 0755);
    if (mount(m[i].src, m[i].dst, m[i].type, m[i].flags, m[i].data) != 0 && errno != EBUSY) {
      klog("mount %s: %s", m[i].dst, strerror(errno));
      return -1;
    }
  }
  return 0;
}

static int load_modules(const char *dir) {
  char path[512];
  snprintf(path, sizeof path, "%s/modules.order", dir);
  FILE *order = fopen(path, "re");
  if (!order) return 0; /* everything built in */
  char name[256];
  while (fgets(name, sizeof name, order)) {
    name[strcspn(name, "\r\n")] = 0;
    if (!name[0]) continue;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      klog("module %s: %s", path, strerror(errno));
      fclose(order);
      return -1;
    }
    long r = syscall(SYS_finit_module, fd, "", 0);
    int e = errno;
    close(fd);
    if (r != 0 && e != EEXIST) {
      klog("finit_module %s: %s", name, strerror(e));
      fclose(order);
      return -1;
    }
  }
  fclose(order);
  return 0;
}

/* Returns an open fd on the port, or -1 after PORT_TIMEOUT_MS. */
static int open_port(const char *want) {
  long deadline = now_ms() + PORT_TIMEOUT_MS;
  while (now_ms() < deadline) {
    DIR *d = opendir("/sys/class/virtio-ports");
    if (d) {
      struct dirent *e;
      while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[512], got[128] = {0};
        snprintf(path, sizeof path, "/sys/class/virtio-ports/%s/name", e->d_name);
        int nfd = open(path, O_RDONLY | O_CLOEXEC);
        if (nfd < 0) continue;
        ssize_t n = read(nfd, got, sizeof got - 1);
        close(nfd);
        if (n <= 0) continue;
        got[strcspn(got, "\n")] = 0;
        if (strcmp(got, want) != 0) continue;
        snprintf(path, sizeof path, "/dev/%s", e->d_name);
        closedir(d);
        int fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0) klog("open %s: %s", path, strerror(errno));
        return fd;
      }
      closedir(d);
    }
    struct timespec ts = {0, 2 * 1000 * 1000}; /* same 2 ms poll as the agent */
    nanosleep(&ts, NULL);
  }
  klog("virtio port %s did not appear", want);
  return -1;
}

int main(void) {
  if (mount_pseudo() != 0 || load_modules("/lib/modules") != 0) die();
  int fd = open_port(PORT_NAME);
  if (fd < 0) die();
  static const char marker[] = "READY\n";
  size_t off = 0;
  while (off < sizeof marker - 1) {
    ssize_t n = write(fd, marker + off, sizeof marker - 1 - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      klog("write marker: %s", n < 0 ? strerror(errno) : "short write");
      die();
    }
    off += (size_t)n;
  }
  for (;;) pause(); /* the bench destroys the domain */
}
