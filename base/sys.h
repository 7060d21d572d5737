/* The edges of the world the agent touches: the environment, the clocks and
 * randomness.  Everything that reads them goes through a struct sys, so unit
 * tests can sign at a fixed time and resolve endpoints from a made-up
 * environment (the same idea as aws-c-auth's system vtable). */
#ifndef SFN_SYS_H
#define SFN_SYS_H

#include <stdint.h>

struct sys {
	const char *(*getenv)(const char *name);
	int64_t (*mono_ms)(void);  /* monotonic: deadlines, timers */
	int64_t (*wall_ms)(void);  /* real time: signatures, expirations */
	uint32_t (*random)(void); /* jitter; not for secrets */
	void (*sleep_ms)(int64_t ms);
};

extern const struct sys sys_real;

/* getenv that treats "" as unset, through s. */
const char *sys_env(const struct sys *s, const char *name);

#endif
