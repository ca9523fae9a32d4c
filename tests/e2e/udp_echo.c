/* A UDP echo server for the VM network test (busybox has none): `udp_echo PORT` sends every
 * datagram back to its sender, prefixed with "echo:". Built static so it runs in any image. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((unsigned short)atoi(argv[1]));
  if (fd < 0 || bind(fd, (struct sockaddr*)&a, sizeof a) != 0) return 1;
  char buf[2048];
  memcpy(buf, "echo:", 5);
  for (;;) {
    struct sockaddr_in from;
    socklen_t len = sizeof from;
    ssize_t n = recvfrom(fd, buf + 5, sizeof buf - 5, 0, (struct sockaddr*)&from, &len);
    if (n >= 0) sendto(fd, buf, (size_t)n + 5, 0, (struct sockaddr*)&from, len);
  }
}
