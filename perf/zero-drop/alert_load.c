/*
 * Alert side load for the zero-drop runs: opens and reads a sensitive file
 * (default /etc/shadow) at a steady, low rate so that the daemon raises
 * alerts while the main workload saturates the CPUs, and the
 * kernel-timestamp-to-alert latency is measured under that load. The rate
 * is far below the workload's (100/s against ~1 M/s) and costs a few
 * microseconds of CPU per operation.
 *
 *   alert_load <per-second> <seconds> [path]
 *
 * Prints the number of opens done. Paces against absolute deadlines so a
 * late wake-up does not lower the average rate.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s <per-second> <seconds> [path]\n", argv[0]);
		return 2;
	}
	double rate = atof(argv[1]);
	double secs = atof(argv[2]);
	const char *path = argc > 3 ? argv[3] : "/etc/shadow";
	if (rate <= 0 || secs <= 0) {
		fprintf(stderr, "alert_load: rate and seconds must be positive\n");
		return 2;
	}
	long total = (long)(rate * secs);
	long step_ns = (long)(1e9 / rate);
	struct timespec next;
	clock_gettime(CLOCK_MONOTONIC, &next);
	long done = 0, failed = 0;
	for (long i = 0; i < total; i++) {
		next.tv_nsec += step_ns;
		while (next.tv_nsec >= 1000000000L) {
			next.tv_nsec -= 1000000000L;
			next.tv_sec++;
		}
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
			;
		int fd = open(path, O_RDONLY);
		if (fd < 0) {
			failed++;
			continue;
		}
		char c;
		if (read(fd, &c, 1) < 0)
			failed++;
		close(fd);
		done++;
	}
	printf("opens=%ld failed=%ld\n", done, failed);
	return failed > 0 ? 1 : 0;
}
