/*
 * The reuseport steering program; see reuseport.h. The kernel runs it with
 * the packet's data past the TCP header, so the addresses are read relative
 * to the network header (SKF_NET_OFF). One program serves both families: an
 * IPv6 socket with ipv6only=off receives IPv4 packets too.
 */
#include "common/reuseport.h"

/* Two rounds of multiply and xor-shift (murmur3's finalizer constants):
 * ephemeral ports step by 2, and a plain modulo would put every
 * connection of one client on the same worker. */
#define MIX1	0x9e3779b1u
#define MIX2	0x85ebca6bu

uint32_t
reuseport_hash(uint32_t addr, uint16_t port)
{
	uint32_t h = addr ^ port;

	h *= MIX1;
	h ^= h >> 16;
	h *= MIX2;
	h ^= h >> 13;
	return h;
}

#define NET(k)	((uint32_t)SKF_NET_OFF + (uint32_t)(k))

struct emit {
	struct sock_filter *p;
	size_t n, cap;
};

static void
op(struct emit *e, uint16_t code, uint8_t jt, uint8_t jf, uint32_t k)
{
	if (e->n < e->cap)
		e->p[e->n] = (struct sock_filter){ code, jt, jf, k };
	e->n++;
}

/* A = the source address folded to 32 bits, X = the source port. */
#define V4_LEN	5
#define V6_LEN	12

static void
emit_source(struct emit *e)
{
	op(e, BPF_LD | BPF_B | BPF_ABS, 0, 0, NET(0));
	op(e, BPF_ALU | BPF_RSH | BPF_K, 0, 0, 4);
	op(e, BPF_JMP | BPF_JEQ | BPF_K, V4_LEN, 0, 6);
	/* IPv4: the header length is in the first byte. */
	op(e, BPF_LD | BPF_W | BPF_ABS, 0, 0, NET(12));
	op(e, BPF_ST, 0, 0, 0);
	op(e, BPF_LDX | BPF_B | BPF_MSH, 0, 0, NET(0));
	op(e, BPF_LD | BPF_H | BPF_IND, 0, 0, NET(0));
	op(e, BPF_JMP | BPF_JA, 0, 0, V6_LEN);
	/* IPv6: the TCP header right after the fixed one (a SYN carries no
	 * extension header in practice; if one did, the hash is still some
	 * number and the connection still lands on a live worker). */
	op(e, BPF_LD | BPF_W | BPF_ABS, 0, 0, NET(8));
	for (int w = 1; w < 4; w++) {
		op(e, BPF_MISC | BPF_TAX, 0, 0, 0);
		op(e, BPF_LD | BPF_W | BPF_ABS, 0, 0, NET(8 + 4 * w));
		op(e, BPF_ALU | BPF_XOR | BPF_X, 0, 0, 0);
	}
	op(e, BPF_ST, 0, 0, 0);
	op(e, BPF_LD | BPF_H | BPF_ABS, 0, 0, NET(40));
}

static void
emit_hash(struct emit *e, unsigned nlive)
{
	op(e, BPF_LDX | BPF_MEM, 0, 0, 0);
	op(e, BPF_ALU | BPF_XOR | BPF_X, 0, 0, 0);
	op(e, BPF_ALU | BPF_MUL | BPF_K, 0, 0, MIX1);
	op(e, BPF_MISC | BPF_TAX, 0, 0, 0);
	op(e, BPF_ALU | BPF_RSH | BPF_K, 0, 0, 16);
	op(e, BPF_ALU | BPF_XOR | BPF_X, 0, 0, 0);
	op(e, BPF_ALU | BPF_MUL | BPF_K, 0, 0, MIX2);
	op(e, BPF_MISC | BPF_TAX, 0, 0, 0);
	op(e, BPF_ALU | BPF_RSH | BPF_K, 0, 0, 13);
	op(e, BPF_ALU | BPF_XOR | BPF_X, 0, 0, 0);
	op(e, BPF_ALU | BPF_MOD | BPF_K, 0, 0, nlive);
	op(e, BPF_RET | BPF_A, 0, 0, 0);
}

size_t
reuseport_prog(struct sock_filter *prog, size_t cap, unsigned nlive,
    const int *cpu_sock, size_t ncpu)
{
	struct emit e = { prog, 0, cap };

	if (nlive == 0)
		return 0;
	if (ncpu > 0) {
		/* A chain of compares: short enough for any CPU count the
		 * masks can name, and each jump stays within its 8 bits. */
		op(&e, BPF_LD | BPF_W | BPF_ABS, 0, 0, (uint32_t)SKF_AD_OFF + SKF_AD_CPU);
		for (size_t c = 0; c < ncpu; c++) {
			if (cpu_sock[c] < 0)
				continue;
			if ((unsigned)cpu_sock[c] >= nlive)
				return 0;
			op(&e, BPF_JMP | BPF_JEQ | BPF_K, 0, 1, (uint32_t)c);
			op(&e, BPF_RET | BPF_K, 0, 0, (uint32_t)cpu_sock[c]);
		}
	}
	emit_source(&e);
	emit_hash(&e, nlive);
	return e.n <= cap ? e.n : 0;
}
