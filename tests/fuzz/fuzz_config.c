/* fuzz_config: a configuration file (libconfig syntax, DESIGN.md §6), read
 * by config_load() as every program reads its --config (common/config.h).
 *
 * The input is written to a temporary file (made once per process, removed
 * at exit) and loaded twice: alone, and under ORDERFLEET_* environment
 * variables and a command-line override whose values come from the input's
 * last line (so that the text-to-setting path of the environment and the
 * flags is fuzzed as well). Inputs holding "@include" are skipped: libconfig
 * would read whatever file they name (/dev/zero never ends), and what it
 * reads is a file the operator chose, not outside input.
 *
 * Properties, beyond "no crash, no leak, no undefined behaviour" (libFuzzer's
 * leak check covers the error paths, where config_load() frees cfg itself):
 *   - a failed load says why (errstr not empty) and leaves cfg zeroed;
 *   - a successful load has every string setting set, and the override's
 *     value when it was accepted. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "fuzz.h"

static char tmp_path[4096];

static void remove_tmp(void) {
    if (tmp_path[0]) unlink(tmp_path);
}

/* The temporary file's path, made on the first input: the only state kept
 * between inputs. */
static const char *input_path(int *fd_out) {
    static int fd = -1;
    if (fd < 0) {
        const char *dir = getenv("TMPDIR");
        snprintf(tmp_path, sizeof(tmp_path), "%s/fuzz_config.cfg.XXXXXX",
                 dir && *dir ? dir : "/tmp");
        fd = mkstemp(tmp_path);
        FUZZ_CHECK(fd >= 0, "cannot create a temporary file");
        atexit(remove_tmp);
    }
    *fd_out = fd;
    return tmp_path;
}

static void check_load(const char *path, const config_override *ov, size_t n_ov) {
    of_config cfg;
    char errstr[1024];
    errstr[0] = '\0';
    if (config_load(&cfg, path, ov, n_ov, errstr, sizeof(errstr)) != CONFIG_OK) {
        static const of_config zero;
        FUZZ_CHECK(errstr[0] != '\0', "config_load failed without a reason");
        FUZZ_CHECK(memcmp(&cfg, &zero, sizeof(cfg)) == 0, "a failed load left cfg set");
        return;
    }
    FUZZ_CHECK(cfg.topic_orders && cfg.worker_group && cfg.log_level && cfg.log_format &&
                   cfg.gateway_listen && cfg.handler_library && cfg.source_file,
               "a string setting is NULL after a successful load");
    for (size_t i = 0; i < n_ov; i++)
        if (strcmp(ov[i].path, "worker.group") == 0)
            FUZZ_CHECK(strcmp(cfg.worker_group, ov[i].value) == 0, "the override was lost");
    for (size_t i = 0; i < cfg.kafka_count; i++)
        FUZZ_CHECK(config_kafka_get(&cfg, cfg.kafka[i].name) != NULL, "kafka property lost");
    config_free(&cfg);
}

/* Non-zero when data[0..size) holds needle anywhere (NULs included). */
static int contains(const uint8_t *data, size_t size, const char *needle) {
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= size; i++)
        if (memcmp(data + i, needle, n) == 0) return 1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (contains(data, size, "@include")) return 0;
    int fd;
    const char *path = input_path(&fd);
    FUZZ_CHECK(ftruncate(fd, 0) == 0, "ftruncate failed");
    FUZZ_CHECK(size == 0 || pwrite(fd, data, size, 0) == (ssize_t)size, "pwrite failed");

    check_load(path, NULL, 0);

    /* The last line (up to a NUL) as the value of a few variables, then of
     * two flags. */
    char *text = fuzz_strndup(data, size);
    char *value = strrchr(text, '\n');
    value = value ? value + 1 : text;
    static const char *const vars[] = {"ORDERFLEET_WORKER_CONCURRENCY",
                                       "ORDERFLEET_HANDLER_FAILURE_RATE",
                                       "ORDERFLEET_KAFKA_CLIENT_ID", "ORDERFLEET_LOG_LEVEL"};
    size_t n_vars = sizeof(vars) / sizeof(vars[0]);
    for (size_t i = 0; i < n_vars; i++) setenv(vars[i], value, 1);
    check_load(path, NULL, 0);
    for (size_t i = 0; i < n_vars; i++) unsetenv(vars[i]);

    config_override ov[] = {{"worker.group", value, "flag --group"},
                            {"kafka.linger.ms", value, "flag -X linger.ms"}};
    check_load(path, ov, 2);
    free(text);
    return 0;
}
