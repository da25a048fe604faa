/* rss: resident memory of a broker's process tree, for the idle scenario.
 *
 * Promises: rss_tree_kib() sums the resident set of pid and of every descendant (found
 * through /proc/PID/task/TID/children, at most RSS_MAX_PROCS processes), in KiB. It reads
 * the exact page-table walk of /proc/PID/smaps_rollup when permitted, else VmRSS from
 * /proc/PID/status. Returns -1 when pid itself cannot be read. */
#ifndef BULWARK_BENCH_RSS_H
#define BULWARK_BENCH_RSS_H

#define RSS_MAX_PROCS 64

long rss_tree_kib(int pid);
/* Number of processes the last rss_tree_kib() call summed. */
int rss_tree_count(void);

#endif
