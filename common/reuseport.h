/*
 * The steering program of a reuseport group (SO_ATTACH_REUSEPORT_CBPF): a
 * classic BPF program run on each SYN that returns the index of the socket in
 * the group that gets the connection. Index i is worker i's socket (the
 * master creates them in that order and never closes one while its address
 * is configured), so returning a live worker's index keeps new connections
 * off the sockets of workers a reload retired, whose queues the live workers
 * drain. Building the program is pure, for unit tests.
 */
#ifndef MP_REUSEPORT_H
#define MP_REUSEPORT_H

#include <linux/filter.h>
#include <stddef.h>
#include <stdint.h>

#define REUSEPORT_MAX_INSNS	BPF_MAXINSNS

/*
 * The spread: hash of the client's address and port, modulo the live workers.
 * addr is the IPv4 address as a host-order number, or the XOR of the four
 * host-order words of an IPv6 address; port is host order. Deterministic, so
 * a test binding its client ports can predict each connection's worker.
 */
uint32_t reuseport_hash(uint32_t addr, uint16_t port);

/*
 * Writes the program into prog (room for cap instructions): with ncpu > 0,
 * a connection received on CPU c < ncpu whose cpu_sock[c] >= 0 goes to socket
 * cpu_sock[c] (reuseport=cpu: the worker pinned there); any other to socket
 * reuseport_hash() % nlive. Returns the instruction count, or 0 when nlive
 * is 0, an index is out of range, or cap is too small.
 */
size_t reuseport_prog(struct sock_filter *prog, size_t cap, unsigned nlive,
    const int *cpu_sock, size_t ncpu);

#endif
