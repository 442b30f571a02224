/*
 * Reuseport steering; see steer.h. Attached when a cycle's workers start
 * (not when its sockets are built: a reload that fails after that must leave
 * the running cycle's program in place), and again when workers start after
 * WINCH, since a binary upgrade rolled back may have left the other
 * binary's program on the shared groups.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/cpu.h"
#include "common/log.h"
#include "common/net.h"
#include "common/reuseport.h"
#include "common/xalloc.h"
#include "master/steer.h"

/*
 * reuseport=cpu: which worker each CPU's connections go to, as set_affinity()
 * in worker.c pins them (the first worker on a CPU takes it); -1 where no
 * worker runs, which the program hashes. Without worker_cpu_affinity the
 * i-th allowed CPU goes to worker i, the placement "auto" would give.
 * Returns the table's length (highest CPU + 1), 0 if none.
 */
static size_t
cpu_table(const struct main_conf *mc, unsigned nlive, int *tab)
{
	struct cpu_mask allowed, m;
	size_t len = 0;

	for (size_t c = 0; c < CPU_MASK_BITS; c++)
		tab[c] = -1;
	if (cpu_allowed(&allowed) < 0)
		return 0;
	for (unsigned i = 0; i < nlive; i++) {
		if (mc->cpu_affinity_text.n == 0 || mc->cpu_affinity_auto) {
			const struct cpu_mask *only = mc->ncpu_affinity ? &mc->cpu_affinity[0] : NULL;
			if (cpu_auto_pick(&allowed, only, i, &m) < 0)
				continue;
		} else {
			m = mc->cpu_affinity[i < mc->ncpu_affinity ? i : mc->ncpu_affinity - 1];
		}
		for (unsigned c = 0; c < CPU_MASK_BITS; c++)
			if (cpu_mask_isset(&m, c) && cpu_mask_isset(&allowed, c) && tab[c] < 0) {
				tab[c] = (int)i;
				if (c + 1 > len)
					len = c + 1;
			}
	}
	return len;
}

void
steer_attach(const struct cycle *cy)
{
	unsigned nlive = (unsigned)cy->cf->main.worker_processes;
	struct sock_filter *prog = NULL;
	int *tab = NULL;

	for (size_t i = 0; i < cy->nls; i++) {
		const struct listener *l = &cy->ls[i];
		char a[NET_ADDRSTRLEN];
		size_t ncpu = 0, n;

		if (!l->steer || l->worker != 0 || l->fd < 0)
			continue;
		if (prog == NULL) {
			prog = xcalloc(REUSEPORT_MAX_INSNS, sizeof(*prog));
			tab = xcalloc(CPU_MASK_BITS, sizeof(*tab));
		}
		if (l->reuseport == LISTEN_REUSEPORT_CPU)
			ncpu = cpu_table(&cy->cf->main, nlive, tab);
		n = reuseport_prog(prog, REUSEPORT_MAX_INSNS, nlive, tab, ncpu);
		struct sock_fprog fp = { .len = (unsigned short)n, .filter = prog };
		net_ntop_port((const struct sockaddr *)&l->addr, a, sizeof(a));
		if (n == 0 || setsockopt(l->fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &fp, sizeof(fp)) < 0)
			log_errno(LL_ALERT, n ? errno : EINVAL, "setsockopt(SO_ATTACH_REUSEPORT_CBPF) on %s "
			    "failed; the kernel spreads its connections by its own hash", a);
		else
			log_msg(LL_INFO, "%s: connections steered to %u worker%s%s", a, nlive,
			    nlive > 1 ? "s" : "", ncpu ? " by the receiving CPU" : "");
	}
	free(prog);
	free(tab);
}
