/* e2e_topics: creates one e2e test's own topics on the ctest fixture's Kafka
 * and prints the environment that points the programs at them, one
 * NAME=value per line (ORDERFLEET_KAFKA_BOOTSTRAP_SERVERS, the five
 * ORDERFLEET_TOPICS_* and ORDERFLEET_WORKER_GROUP).
 *
 *   e2e_topics PREFIX      (ORDERFLEET_E2E_KAFKA_DIR set, as ctest does)
 *
 * For the e2e tests written in Python, which have no Kafka admin client:
 * `deploy/kafka-local.sh topics` starts one JVM per topic, about 40 s on a
 * busy two-core machine; the admin API here takes about a second. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "testkit.h"

static const char *prefix;

/* Inside a cmocka test so that the kit's failures (fail_msg) are reported
 * as cmocka reports them, with a non-zero exit. */
static void create(void **state) {
    (void)state;
    tk_topics t;
    const char *bootstraps = tk_e2e_bootstraps();
    tk_topics_create(bootstraps, prefix, 1, &t);
    printf("ORDERFLEET_KAFKA_BOOTSTRAP_SERVERS=%s\n", bootstraps);
    for (int i = 0; t.envp[i]; i++) printf("%s\n", t.envp[i]);
    fflush(stdout);
}

int main(int argc, char **argv) {
    if (argc != 2 || !argv[1][0]) {
        fprintf(stderr, "usage: e2e_topics PREFIX\n");
        return 64;
    }
    prefix = argv[1];
    const struct CMUnitTest tests[] = {cmocka_unit_test(create)};
    return cmocka_run_group_tests_name("e2e_topics", tests, NULL, NULL);
}
