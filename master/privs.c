/* The user and group the workers run as, looked up from the configuration. */
#include <grp.h>
#include <pwd.h>
#include <stdio.h>

#include "config/config.h"
#include "master/privs.h"

int
privs_lookup(const struct main_conf *mc, uid_t *uid, gid_t *gid, char *err, size_t errlen)
{
	struct passwd *pw;
	struct group *gr;

	pw = getpwnam(mc->user);
	if (pw == NULL) {
		snprintf(err, errlen, "user \"%s\" does not exist (directive \"user\")", mc->user);
		return -1;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	if (mc->group != NULL) {
		gr = getgrnam(mc->group);
		if (gr == NULL) {
			snprintf(err, errlen, "group \"%s\" does not exist (directive \"user\")", mc->group);
			return -1;
		}
		*gid = gr->gr_gid;
	}
	return 0;
}
