/*
 * The process_* collector, with the names and meanings of the Prometheus Go
 * client's process collector, read from /proc so that dashboards built for
 * Go operators work unchanged.
 */
#include "metrics.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static int read_file(const char *path, char *out, size_t outsz)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	size_t n = fread(out, 1, outsz - 1, f);
	out[n] = '\0';
	fclose(f);
	return 0;
}

/* Boot time in seconds since the epoch, from the btime line of /proc/stat. */
static double boot_time(void)
{
	static const char key[] = "\nbtime ";
	char text[16384];
	if (read_file("/proc/stat", text, sizeof(text)) < 0)
		return 0;
	const char *p = strstr(text, key);
	return p ? strtod(p + sizeof(key) - 1, NULL) : 0;
}

/* Fields of /proc/self/stat after the command name, which may contain
 * spaces and parentheses, so parsing starts after the last ')'. Field 14 is
 * utime, 15 stime, 22 starttime, 23 vsize, 24 rss (pages). */
static int read_stat(double *cpu, double *start, double *vsize, double *rss)
{
	char text[4096];
	int rc = read_file("/proc/self/stat", text, sizeof(text));
	if (rc < 0)
		return rc;
	char *p = strrchr(text, ')');
	if (!p)
		return -EINVAL;
	double field[25] = { 0 };
	p++;
	for (int i = 3; i <= 24 && *p; i++) {
		while (*p == ' ')
			p++;
		char *end;
		field[i] = strtod(p, &end);
		if (end == p) {
			while (*p && *p != ' ')
				p++;
		} else {
			p = end;
		}
	}
	double tck = (double)sysconf(_SC_CLK_TCK);
	double page = (double)sysconf(_SC_PAGESIZE);
	*cpu = (field[14] + field[15]) / tck;
	*start = boot_time() + field[22] / tck;
	*vsize = field[23];
	*rss = field[24] * page;
	return 0;
}

static double open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return 0;
	double n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory handle itself */
}

static void collect(void *userdata, struct metrics *m)
{
	double cpu, start, vsize, rss;
	if (read_stat(&cpu, &start, &vsize, &rss) == 0) {
		metrics_counter_add(m, "process_cpu_seconds_total",
				    "Total user and system CPU time spent in seconds.",
				    NULL, 0);
		metrics_gauge_set(m, "process_start_time_seconds",
				  "Start time of the process since unix epoch in seconds.",
				  NULL, start);
		metrics_gauge_set(m, "process_virtual_memory_bytes",
				  "Virtual memory size in bytes.", NULL, vsize);
		metrics_gauge_set(m, "process_resident_memory_bytes",
				  "Resident memory size in bytes.", NULL, rss);
		double prev;
		if (metrics_get(m, "process_cpu_seconds_total", NULL, &prev) < 0)
			prev = 0; /* the first sample */
		if (cpu > prev)
			metrics_counter_add(m, "process_cpu_seconds_total", "",
					    NULL, cpu - prev);
	}
	metrics_gauge_set(m, "process_open_fds",
			  "Number of open file descriptors.", NULL, open_fds());
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		metrics_gauge_set(m, "process_max_fds",
				  "Maximum number of open file descriptors.",
				  NULL, (double)rl.rlim_cur);
}

int metrics_add_process_collector(struct metrics *m)
{
	return metrics_add_collector(m, collect, NULL);
}
