/* The churn workloads of perf/memory-churn/run.sh: real syscalls, no
 * kestrel code. Each mode prints "phase NAME" lines on stdout as it moves
 * on, so that the script can sample the daemon at the right moments, and
 * waits for a line on stdin where the script wants to sample while the
 * churning process still holds (or has just closed) its descriptors.
 *
 *   churn procs N EXEC_EVERY      N processes, one after another: fork and
 *                                 _exit, except every EXEC_EVERY-th child,
 *                                 which execs /bin/true (0: never)
 *   churn files N HOLD DIR        N distinct files in DIR created, closed
 *                                 and unlinked; then HOLD more opened at
 *                                 once ("phase held", wait), closed
 *                                 ("phase closed", wait) and unlinked
 *   churn sockets N               N loopback TCP connections (client and
 *                                 accepted side) and N UDP sockets that
 *                                 each send one datagram to their own
 *                                 peer, all held at once ("phase held",
 *                                 wait), then closed ("phase closed", wait)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what) {
    fprintf(stderr, "churn: %s: %s\n", what, strerror(errno));
    exit(2);
}

static void phase(const char *name) {
    printf("phase %s\n", name);
    fflush(stdout);
}

/* Blocks until the script has sampled (one line on stdin). */
static void await_go(void) {
    char buf[64];
    if (!fgets(buf, sizeof buf, stdin)) {
        /* stdin closed: go on */
    }
}

static void raise_nofile(rlim_t n) {
    struct rlimit r = {n, n};
    if (setrlimit(RLIMIT_NOFILE, &r) != 0) die("setrlimit(RLIMIT_NOFILE)");
}

static int procs(long n, long exec_every) {
    char *const argv[] = {"true", NULL};
    char *const envp[] = {NULL};
    long execs = 0;
    for (long i = 1; i <= n; i++) {
        int ex = exec_every > 0 && i % exec_every == 0;
        pid_t p = fork();
        if (p < 0) die("fork");
        if (p == 0) {
            if (ex) execve("/bin/true", argv, envp);
            _exit(ex ? 127 : 0);
        }
        int st;
        if (waitpid(p, &st, 0) < 0) die("waitpid");
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "churn: child %ld exited with status %d\n", i, st);
            return 1;
        }
        execs += ex;
    }
    printf("processes %ld execs %ld\n", n, execs);
    phase("done");
    return 0;
}

static int files(long n, long hold, const char *dir) {
    char path[4096];
    raise_nofile((rlim_t)hold + 64);
    for (long i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/f%08ld", dir, i);
        int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0) die("open");
        if (close(fd) != 0) die("close");
        if (unlink(path) != 0) die("unlink");
    }
    phase("churned");
    int *fds = calloc((size_t)hold, sizeof *fds);
    if (!fds) die("calloc");
    for (long i = 0; i < hold; i++) {
        snprintf(path, sizeof path, "%s/h%08ld", dir, i);
        fds[i] = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
        if (fds[i] < 0) die("open (held)");
    }
    phase("held");
    await_go();
    for (long i = 0; i < hold; i++) {
        if (close(fds[i]) != 0) die("close (held)");
        snprintf(path, sizeof path, "%s/h%08ld", dir, i);
        if (unlink(path) != 0) die("unlink (held)");
    }
    printf("files %ld held %ld\n", n, hold);
    phase("closed");
    await_go();
    return 0;
}

static int sockets(long n) {
    raise_nofile((rlim_t)n * 4 + 64);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l < 0) die("socket");
    if (bind(l, (struct sockaddr *)&a, sizeof a) != 0) die("bind");
    if (listen(l, 4096) != 0) die("listen");
    if (getsockname(l, (struct sockaddr *)&a, &al) != 0) die("getsockname");
    int *c = calloc((size_t)n, sizeof *c), *s = calloc((size_t)n, sizeof *s),
        *u = calloc((size_t)n, sizeof *u);
    if (!c || !s || !u) die("calloc");
    for (long i = 0; i < n; i++) {
        c[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c[i] < 0) die("socket (tcp)");
        if (connect(c[i], (struct sockaddr *)&a, sizeof a) != 0) die("connect");
        s[i] = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        if (s[i] < 0) die("accept4");
    }
    /* One UDP receiver; each sender sends one datagram to it from its own
     * socket (a new peer for every socket: fd.name_changed state). */
    struct sockaddr_in ua = a;
    socklen_t ual = sizeof ua;
    int r = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ua.sin_port = 0;
    if (r < 0 || bind(r, (struct sockaddr *)&ua, sizeof ua) != 0) die("udp bind");
    if (getsockname(r, (struct sockaddr *)&ua, &ual) != 0) die("getsockname (udp)");
    char buf[16];
    for (long i = 0; i < n; i++) {
        u[i] = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (u[i] < 0) die("socket (udp)");
        if (sendto(u[i], "x", 1, 0, (struct sockaddr *)&ua, sizeof ua) != 1) die("sendto");
        (void)recv(r, buf, sizeof buf, MSG_DONTWAIT);
    }
    phase("held");
    await_go();
    for (long i = 0; i < n; i++) {
        if (close(c[i]) != 0 || close(s[i]) != 0 || close(u[i]) != 0) die("close");
    }
    close(l);
    close(r);
    printf("tcp %ld udp %ld\n", n, n);
    phase("closed");
    await_go();
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 4 && strcmp(argv[1], "procs") == 0)
        return procs(atol(argv[2]), atol(argv[3]));
    if (argc >= 5 && strcmp(argv[1], "files") == 0)
        return files(atol(argv[2]), atol(argv[3]), argv[4]);
    if (argc >= 3 && strcmp(argv[1], "sockets") == 0)
        return sockets(atol(argv[2]));
    fprintf(stderr, "usage: churn procs N EXEC_EVERY | files N HOLD DIR | sockets N\n");
    return 2;
}
