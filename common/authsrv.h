/*
 * The auth services' shared state: per auth_http URL, whether it is in
 * back-off and what it served, in the "auth_servers" zone. Every worker
 * reads and writes it (atomics, no lock), so a server one worker saw fail
 * is skipped by all, and `mailproxy -s status` reads the same counters.
 * The choice of the next server to try is here too, pure but for the
 * atomics, so the unit tests drive it with their own clock.
 */
#ifndef MP_AUTHSRV_H
#define MP_AUTHSRV_H

#include <stddef.h>
#include <stdint.h>

#define AUTHSRV_ZONE "auth_servers"
#define AUTHSRV_MAGIC 0x6d70617574687376ULL
#define AUTHSRV_SLOTS 128
#define AUTHSRV_URL_MAX 240	/* longer URLs are told apart by their first bytes */

struct authsrv_slot {
	char url[AUTHSRV_URL_MAX];	/* "" = free */
	uint32_t generation;	/* the last configuration that named it */
	uint32_t pad;
	uint64_t requests;	/* tries sent to it */
	uint64_t failures;	/* connect, TLS, timeout, 5xx or broken answers */
	uint64_t backoffs;	/* times it went into back-off */
	uint64_t down_until;	/* monotonic ms the back-off lasts; 0 = up */
};

struct authsrv_zone {
	uint64_t magic;
	struct authsrv_slot slot[AUTHSRV_SLOTS];
};

/* The zone the master opened (inherited by the workers); NULL: no shared state. */
extern struct authsrv_zone *authsrv_zone;

void authsrv_init(struct authsrv_zone *z);
/*
 * The slot of url for configuration generation gen, taken if new. A full
 * zone gives up the slot a configuration named longest ago, if not gen
 * (its counts start again); -1 when every slot is named by gen.
 */
int authsrv_register(struct authsrv_zone *z, const char *url, uint32_t gen);
/* The slot of url, or NULL (for readers: -s status). */
const struct authsrv_slot *authsrv_find(const struct authsrv_zone *z, const char *url);

enum authsrv_claim { AUTHSRV_SKIP, AUTHSRV_USE, AUTHSRV_PROBE };
/*
 * May a request go to s now? USE when it is up; SKIP during its back-off;
 * PROBE for the one request that takes it after its back-off ended (the
 * back-off is extended meanwhile, so the others keep skipping it until the
 * probe answers).
 */
enum authsrv_claim authsrv_claim(struct authsrv_slot *s, uint64_t now, uint64_t fail_timeout);
/* A try failed: s is skipped until now + fail_timeout. */
void authsrv_failed(struct authsrv_slot *s, uint64_t now, uint64_t fail_timeout);
/* A try was answered: s is up. */
void authsrv_answered(struct authsrv_slot *s);

/*
 * The next of the n servers s[] to try, given the mask of those tried: the
 * first untried one that authsrv_claim() lets in; when none does, the first
 * untried one anyway (back-off never fails a login without a try). -1 when
 * all were tried. A NULL s[i] has no shared state and is always up.
 */
int authsrv_pick(struct authsrv_slot *const *s, size_t n, uint32_t tried, uint64_t now,
    uint64_t fail_timeout);

/* Is the response that starts with data[0..len) an HTTP 5xx? 1 yes, 0 no, -1 not known yet. */
int authsrv_is_5xx(const char *data, size_t len);

#endif
