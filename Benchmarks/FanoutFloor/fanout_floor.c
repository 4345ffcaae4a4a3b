// The machine's floor for pushing one small message to N TCP connections on
// loopback, with no TLS, no framing and no server logic: one write() of
// `size` octets per connection, read by a second process through epoll.
//
// It answers "how fast could any server fan out here?", so the subscriber
// benchmark's figures (gatehouse-load subscribers) can be read against it.
// Both processes share the machine's cores, as the server and the load
// generator do.
//
//   cc -O2 -pthread -o fanout_floor fanout_floor.c && ./fanout_floor 10000 20 120 2
//   (connections, rounds, octets per message, writer threads: the server runs
//   one event loop per core, each writing to its share of the connections)
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static double cpu_ms(void) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1e3 + (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e3;
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void die(const char *what) {
    perror(what);
    exit(1);
}

/// What the two processes share: the moment each round's writes began, and the reader's progress.
struct shared {
    volatile double round_start;
    volatile int round;         // the writer's current round
    volatile int done_round;    // the last round the reader finished
    volatile int connected;     // reader's connections made
    double reader_cpu_ms;
    double latencies[];         // one round's per-connection delivery times
};

static void reader(struct shared *shared, int port, int count, int rounds, int size) {
    int epoll = epoll_create1(0);
    if (epoll < 0) die("epoll_create1");
    int *fds = calloc(count, sizeof(int));
    int *got = calloc(count, sizeof(int));
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
    for (int i = 0; i < count; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (fds[i] < 0) die("socket");
        if (connect(fds[i], (struct sockaddr *)&address, sizeof address) < 0 && errno != EINPROGRESS) die("connect");
        struct epoll_event event = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        if (epoll_ctl(epoll, EPOLL_CTL_ADD, fds[i], &event) < 0) die("epoll_ctl");
        shared->connected = i + 1;
    }
    char buffer[65536];
    struct epoll_event events[256];
    double cpu_start = 0;
    for (int round = 1; round <= rounds; round++) {
        int remaining = count;
        memset(got, 0, count * sizeof(int));
        while (remaining > 0) {
            int ready = epoll_wait(epoll, events, 256, 1000);
            if (ready < 0 && errno != EINTR) die("epoll_wait");
            for (int e = 0; e < ready; e++) {
                int i = events[e].data.u32;
                ssize_t n = read(fds[i], buffer, sizeof buffer);
                if (n <= 0) continue;
                if (round == 1 && cpu_start == 0) cpu_start = cpu_ms();
                got[i] += (int)n;
                if (got[i] >= size && got[i] - (int)n < size) {
                    shared->latencies[i] = now_ms() - shared->round_start;
                    remaining--;
                }
            }
        }
        shared->reader_cpu_ms = cpu_ms() - cpu_start;
        __atomic_store_n(&shared->done_round, round, __ATOMIC_SEQ_CST);
        while (__atomic_load_n(&shared->round, __ATOMIC_SEQ_CST) == round && round < rounds) usleep(100);
    }
    exit(0);
}

/// One writer thread's share of a round: connections [first, end).
struct share {
    int *fds;
    int first, end, size;
    char *message;
};

static void *write_share(void *argument) {
    struct share *share = argument;
    for (int i = share->first; i < share->end; i++) {
        if (write(share->fds[i], share->message, share->size) != share->size) die("write");
    }
    return NULL;
}

int main(int argc, char **argv) {
    int count = argc > 1 ? atoi(argv[1]) : 10000;
    int rounds = argc > 2 ? atoi(argv[2]) : 20;
    int size = argc > 3 ? atoi(argv[3]) : 120;
    int threads = argc > 4 ? atoi(argv[4]) : 2;
    if (count < 1 || rounds < 1 || size < 1 || threads < 1 || threads > 64) {
        fprintf(stderr, "usage: fanout_floor [connections] [rounds] [octets] [writer threads 1-64]\n");
        return 64;
    }
    struct shared *shared = mmap(NULL, sizeof(struct shared) + count * sizeof(double), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED) die("mmap");

    int listener = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in address = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
    if (bind(listener, (struct sockaddr *)&address, sizeof address) < 0) die("bind");
    if (listen(listener, 4096) < 0) die("listen");
    socklen_t length = sizeof address;
    getsockname(listener, (struct sockaddr *)&address, &length);

    pid_t child = fork();
    if (child == 0) reader(shared, ntohs(address.sin_port), count, rounds, size);

    int *fds = calloc(count, sizeof(int));
    for (int i = 0; i < count; i++) {
        fds[i] = accept(listener, NULL, NULL);
        if (fds[i] < 0) die("accept");
        setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    char *message = calloc(1, size);
    double *sorted = calloc(count, sizeof(double));
    double sum_p50 = 0, sum_p99 = 0, sum_max = 0, writer_cpu = 0, reader_cpu = 0;
    printf("connections %d, %d octets per message, %d rounds, %d writer threads\n", count, size, rounds, threads);
    struct share shares[64];
    pthread_t workers[64];
    printf("round  p50 ms  p99 ms  max ms  writer CPU ms\n");
    for (int round = 1; round <= rounds; round++) {
        usleep(50 * 1000);
        double cpu_before = cpu_ms();
        shared->round_start = now_ms();
        __atomic_store_n(&shared->round, round, __ATOMIC_SEQ_CST);
        for (int t = 0; t < threads; t++) {
            shares[t] = (struct share){.fds = fds, .first = count * t / threads, .end = count * (t + 1) / threads, .size = size, .message = message};
            pthread_create(&workers[t], NULL, write_share, &shares[t]);
        }
        for (int t = 0; t < threads; t++) pthread_join(workers[t], NULL);
        double cpu = cpu_ms() - cpu_before;
        while (__atomic_load_n(&shared->done_round, __ATOMIC_SEQ_CST) < round) usleep(100);
        memcpy(sorted, shared->latencies, count * sizeof(double));
        qsort(sorted, count, sizeof(double), compare);
        double p50 = sorted[count / 2], p99 = sorted[(int)(count * 0.99)], max = sorted[count - 1];
        printf("%5d  %6.1f  %6.1f  %6.1f  %6.1f\n", round, p50, p99, max, cpu);
        sum_p50 += p50; sum_p99 += p99; sum_max += max; writer_cpu += cpu;
    }
    reader_cpu = shared->reader_cpu_ms;
    waitpid(child, NULL, 0);
    printf("mean   %6.1f  %6.1f  %6.1f  %6.1f   (writer %.1f µs, reader %.1f µs of CPU per connection per message)\n",
           sum_p50 / rounds, sum_p99 / rounds, sum_max / rounds, writer_cpu / rounds,
           writer_cpu / rounds / count * 1e3, reader_cpu / rounds / count * 1e3);
    return 0;
}
