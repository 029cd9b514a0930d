/* SPDX-License-Identifier: MIT */
/* `fief demo`: a pool and one local miner in one process tree, an API key,
 * and a ready-to-paste curl command. The children are this same binary
 * running `fief pool` and `fief miner`; they stop with the demo. */
#include "cli/cli.h"
#include "common/log.h"
#include "engine/genmodel.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char help[] =
    "usage: fief demo [-m MODEL.gguf] [options]\n"
    "\n"
    "Starts a pool and one miner on this machine, creates an API key and prints\n"
    "a curl command to try. Without -m it generates a small random-weight model.\n"
    "Ctrl-C stops everything.\n"
    "\n"
    "  -m, --model PATH     GGUF model to serve\n"
    "      --data DIR       state directory (default ~/.fief/demo)\n"
    "      --port P         HTTP port (default 8080)\n"
    "      --miner-port P   miner gateway port (default 3333)\n"
    "      --threads N      miner threads (default: one per CPU)\n"
    "      --once           send one request, print the answer and stop\n";

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static pid_t spawn(char *const argv[], const char *log_path)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    if (log_path) {
        FILE *f = freopen(log_path, "a", stderr);
        (void)f;
    }
    execv("/proc/self/exe", argv);
    fprintf(stderr, "fief demo: cannot start %s: %s\n", argv[1], strerror(errno));
    _exit(127);
}

/* One HTTP request to 127.0.0.1:port; returns the status, body in out. */
static int http(int port, const char *method, const char *path, const char *auth,
                const char *body, char *out, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    char req[4096];
    int n = snprintf(req, sizeof req,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                     "%s%s%sContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                     method, path, auth ? "Authorization: Bearer " : "", auth ? auth : "",
                     auth ? "\r\n" : "", body ? strlen(body) : 0, body ? body : "");
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    size_t got = 0;
    ssize_t r;
    while (got + 1 < cap && (r = read(fd, out + got, cap - got - 1)) > 0)
        got += (size_t)r;
    out[got] = 0;
    close(fd);
    int status = -1;
    if (sscanf(out, "HTTP/1.%*d %d", &status) != 1)
        return -1;
    char *b = strstr(out, "\r\n\r\n");
    if (b)
        memmove(out, b + 4, strlen(b + 4) + 1);
    return status;
}

/* Wait until the pool lists the model as served (a miner is online). */
static bool wait_ready(int port, const char *key, const char *model, int seconds)
{
    char body[65536], want[128];
    snprintf(want, sizeof want, "\"id\":\"%s\"", model);
    for (int i = 0; i < seconds * 10 && !stop; i++) {
        if (http(port, "GET", "/v1/models", key, NULL, body, sizeof body) == 200 &&
            strstr(body, want))
            return true;
        usleep(100000);
    }
    return false;
}

static int make_key(const char *self_data, char *key, size_t cap)
{
    char cmd[PATH_MAX + 64];
    snprintf(cmd, sizeof cmd, "/proc/%d/exe keys create --name demo --data '%s'", (int)getpid(),
             self_data);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    bool ok = fgets(key, (int)cap, p) != NULL;
    if (pclose(p) != 0 || !ok)
        return -1;
    key[strcspn(key, "\r\n")] = 0;
    return 0;
}

static int default_model(const char *dir, char *path, size_t cap)
{
    if (snprintf(path, cap, "%s/demo-model.gguf", dir) >= (int)cap)
        return -1;
    if (access(path, R_OK) == 0)
        return 0;
    struct genmodel_spec s;
    genmodel_spec_defaults(&s);
    s.dim = 256;
    s.layers = 4;
    s.heads = 8;
    s.kv_heads = 4;
    s.ffn = 768;
    s.vocab = 2048;
    s.ctx = 2048;
    char err[FIEF_ERR_LEN];
    fprintf(stderr, "fief demo: no model given, generating a small random-weight model at %s\n",
            path);
    if (genmodel_write(path, &s, err)) {
        fprintf(stderr, "fief demo: %s\n", err);
        return -1;
    }
    return 0;
}

static void model_name(const char *path, char *out, size_t cap)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (snprintf(out, cap, "%s", base) >= (int)cap)
        out[cap - 1] = 0; /* a long file name: its prefix will do */
    char *dot = strstr(out, ".gguf");
    if (dot)
        *dot = 0;
    for (char *c = out; *c; c++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-", *c))
            *c = '-';
}

struct demo {
    char data[PATH_MAX], model[PATH_MAX], name[65], key[128], threads[16];
    int port, mport;
    bool once;
};

static int parse(int argc, char **argv, struct demo *d)
{
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'}, {"data", required_argument, NULL, 'd'},
        {"port", required_argument, NULL, 'p'},  {"miner-port", required_argument, NULL, 'M'},
        {"threads", required_argument, NULL, 't'}, {"once", no_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},        {0, 0, 0, 0},
    };
    const char *home = getenv("HOME");
    snprintf(d->data, sizeof d->data, "%s/.fief/demo", home && *home ? home : ".");
    d->port = 8080;
    d->mport = 3333;
    int ch;
    long v;
    while ((ch = getopt_long(argc, argv, "m:t:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'm': snprintf(d->model, sizeof d->model, "%s", optarg); break;
        case 'd': snprintf(d->data, sizeof d->data, "%s", optarg); break;
        case 'p':
            if (cli_int("demo", "--port", optarg, 1, 65535, &v))
                return CLI_USAGE;
            d->port = (int)v;
            break;
        case 'M':
            if (cli_int("demo", "--miner-port", optarg, 1, 65535, &v))
                return CLI_USAGE;
            d->mport = (int)v;
            break;
        case 't':
            if (cli_int("demo", "--threads", optarg, 1, 256, &v))
                return CLI_USAGE;
            snprintf(d->threads, sizeof d->threads, "%ld", v);
            break;
        case 'o': d->once = true; break;
        case 'h': fputs(help, stdout); return -1;
        default: return CLI_USAGE;
        }
    }
    if (optind < argc)
        return cli_usage_err("demo", "unexpected argument \"%s\"", argv[optind]);
    return 0;
}

static void print_try(const struct demo *d)
{
    printf("\nfief demo is running: pool %s on http://127.0.0.1:%d (miners: "
           "fief+tcp://127.0.0.1:%d)\n\nAPI key: %s\n\nTry:\n\n"
           "curl http://127.0.0.1:%d/v1/chat/completions \\\n"
           "  -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' \\\n"
           "  -d '{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"Tell me a "
           "story\"}],\"max_tokens\":64,\"stream\":true}'\n\n"
           "Pool status: http://127.0.0.1:%d/api/pool   Logs: %s/*.log   Ctrl-C to stop.\n",
           d->name, d->port, d->mport, d->key, d->port, d->key, d->name, d->port, d->data);
    fflush(stdout);
}

static int once(const struct demo *d)
{
    char body[512], out[1 << 16];
    snprintf(body, sizeof body, "{\"model\":\"%s\",\"prompt\":\"Once upon a time\","
             "\"max_tokens\":32,\"temperature\":0}", d->name);
    int st = http(d->port, "POST", "/v1/completions", d->key, body, out, sizeof out);
    printf("POST /v1/completions -> %d\n%s\n", st, out);
    return st == 200 ? CLI_OK : CLI_FAIL;
}

int cmd_demo(int argc, char **argv)
{
    struct demo d = {0};
    int rc = parse(argc, argv, &d);
    if (rc)
        return rc < 0 ? CLI_OK : rc;
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", d.data);
    if (system(cmd) != 0)
        return CLI_FAIL;
    if (!d.model[0] && default_model(d.data, d.model, sizeof d.model))
        return CLI_FAIL;
    model_name(d.model, d.name, sizeof d.name);
    char pool_data[PATH_MAX + 8], miner_data[PATH_MAX + 8], mflag[80], hflag[80], mspec[PATH_MAX + 80];
    char url[80], plog[PATH_MAX + 16], mlog[PATH_MAX + 16];
    snprintf(pool_data, sizeof pool_data, "%s/pool", d.data);
    snprintf(miner_data, sizeof miner_data, "%s/miner", d.data);
    snprintf(mflag, sizeof mflag, "127.0.0.1:%d", d.mport);
    snprintf(hflag, sizeof hflag, "127.0.0.1:%d", d.port);
    snprintf(mspec, sizeof mspec, "%s=%s", d.name, d.model);
    snprintf(url, sizeof url, "fief+tcp://127.0.0.1:%d", d.mport);
    snprintf(plog, sizeof plog, "%s/pool.log", d.data);
    snprintf(mlog, sizeof mlog, "%s/miner.log", d.data);
    char *pool_argv[] = {"fief", "pool", "--data", pool_data, "--listen-miners", mflag,
                         "--listen-http", hflag, "--model", mspec, "--name", "demo", NULL};
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    pid_t pool = spawn(pool_argv, plog), miner = -1;
    rc = CLI_FAIL;
    usleep(200000);
    if (make_key(pool_data, d.key, sizeof d.key)) {
        fprintf(stderr, "fief demo: could not create an API key (see %s)\n", plog);
        goto out;
    }
    char *miner_argv[] = {"fief", "miner", "-o", url, "-u", "demo-payout", "-w", "demo",
                          "-m", mspec, "--data", miner_data, d.threads[0] ? "--threads" : NULL,
                          d.threads, NULL};
    miner = spawn(miner_argv, mlog);
    if (!wait_ready(d.port, d.key, d.name, 60)) {
        fprintf(stderr, "fief demo: the pool did not come up with its miner in time "
                        "(see %s and %s)\n", plog, mlog);
        goto out;
    }
    if (d.once) {
        rc = once(&d);
        goto out;
    }
    print_try(&d);
    rc = CLI_OK;
    while (!stop) {
        int status;
        if (waitpid(-1, &status, WNOHANG) > 0) {
            fprintf(stderr, "fief demo: a child stopped (see %s, %s)\n", plog, mlog);
            rc = CLI_FAIL;
            break;
        }
        usleep(200000);
    }
out:
    if (miner > 0)
        kill(miner, SIGTERM);
    if (pool > 0)
        kill(pool, SIGTERM);
    while (wait(NULL) > 0)
        ;
    return rc;
}
