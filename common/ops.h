/* ops: the operations endpoint of every long-running program, on
 * metrics.listen (DESIGN.md §5):
 *
 *   GET /healthz   liveness: 200 while the program's main loop turns; 503
 *                  once it has not turned for metrics.liveness_ms (a stuck
 *                  loop: the orchestrator restarts the container)
 *   GET /readyz    readiness: 200 when the program says it is ready
 *                  (connected, assigned, positioned: each decides), else 503
 *                  with the reason
 *   GET /metrics   the registry in the Prometheus text format
 *
 * It runs on a thread of its own (libmicrohttpd's internal polling thread),
 * so it answers even when the main loop is stuck: that is the point of
 * /healthz. The main loop only stores a timestamp per turn (ops_beat(), one
 * relaxed atomic store) and a flag when readiness changes.
 *
 * Every function accepts a NULL ops (metrics.listen empty: the endpoint is
 * off), so callers need no branches.
 *
 * Test hook: when the environment names a file in ORDERFLEET_TEST_STALL_FILE,
 * ops_beat() blocks for as long as that file exists, which is how the tests
 * make a main loop stuck on purpose. */
#ifndef ORDERFLEET_OPS_H
#define ORDERFLEET_OPS_H

#include <stdarg.h>
#include <stddef.h>
#include <sys/socket.h>

#include "common/config.h"
#include "common/metrics.h"

#define OPS_OK 0
#define OPS_ERR -1

typedef struct ops ops;

/* Starts serving on cfg->metrics_listen ("host:port"; port 0 picks a free
 * one, see ops_port()) with liveness bound cfg->metrics_liveness_ms. m is
 * borrowed and must outlive the ops. The program starts not ready. Returns
 * NULL with the reason in errstr; when metrics.listen is empty, returns NULL
 * with errstr empty (nothing to serve). Stop with ops_stop(). */
ops *ops_start(const of_config *cfg, metrics *m, char *errstr, size_t errsize);

/* The main loop turned: liveness is renewed. */
void ops_beat(ops *o);

/* Readiness, with the reason it is not (a string literal or one that
 * outlives the ops; ignored when ready). */
void ops_set_ready(ops *o, int ready, const char *reason);

/* The bound port, or -1. */
int ops_port(const ops *o);

/* Stops the server thread and frees the ops. NULL is fine. */
void ops_stop(ops *o);

/* For a program's main: when cfg->metrics_listen is set, a registry whose
 * names start with prefix ("orderfleet_worker") in *reg and the endpoint
 * serving it in *o; both NULL when it is empty. Returns OPS_OK, or OPS_ERR
 * with the reason in errstr and nothing to free. Close with ops_close(). */
int ops_open(const of_config *cfg, const char *prefix, metrics **reg, ops **o, char *errstr,
             size_t errsize);

/* Stops the endpoint, then frees the registry it rendered. NULLs are fine. */
void ops_close(ops *o, metrics *reg);

/* libmicrohttpd's error log (MHD_OPTION_EXTERNAL_LOGGER) as logfmt warnings,
 * for every daemon of the project. */
void ops_mhd_log(void *cls, const char *fmt, va_list ap);

/* Parses "host:port" or "[v6]:port" (setting names the setting in errors)
 * into ss. Returns OPS_OK, or OPS_ERR with the reason in errstr. Shared with
 * the gateway's own listener. */
int ops_parse_listen(const char *listen, const char *setting, struct sockaddr_storage *ss,
                     char *errstr, size_t errsize);

#endif
