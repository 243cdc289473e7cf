/*
 * Syscall loops for the probe overhead benchmark: pinned to one CPU, a fixed
 * number of iterations, prints ns per operation.
 *
 *   loop getppid <iterations> <cpu>
 *   loop openclose <iterations> <cpu> <path>
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: %s getppid|openclose <iterations> <cpu> [path]\n", argv[0]);
		return 2;
	}
	long iters = atol(argv[2]);
	int cpu = atoi(argv[3]);
	const char *path = argc > 4 ? argv[4] : "/etc/hostname";
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) != 0) {
		perror("sched_setaffinity");
		return 1;
	}
	int openclose = strcmp(argv[1], "openclose") == 0;
	if (!openclose && strcmp(argv[1], "getppid") != 0) {
		fprintf(stderr, "unknown loop %s\n", argv[1]);
		return 2;
	}
	/* Warm up caches and the page holding the path. */
	for (long i = 0; i < iters / 20 + 1; i++) {
		if (openclose) {
			int fd = openat(AT_FDCWD, path, O_RDONLY);
			if (fd < 0) { perror(path); return 1; }
			close(fd);
		} else {
			syscall(SYS_getppid);
		}
	}
	double t0 = now_ns();
	if (openclose) {
		for (long i = 0; i < iters; i++) {
			int fd = openat(AT_FDCWD, path, O_RDONLY);
			if (fd < 0) { perror(path); return 1; }
			close(fd);
		}
	} else {
		for (long i = 0; i < iters; i++)
			syscall(SYS_getppid);
	}
	double t1 = now_ns();
	printf("%.1f\n", (t1 - t0) / iters);
	return 0;
}
