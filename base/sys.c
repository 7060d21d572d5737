#include "base/sys.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>

static int64_t clock_ms(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t real_mono_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

static int64_t real_wall_ms(void)
{
	return clock_ms(CLOCK_REALTIME);
}

static uint32_t real_random(void)
{
	static uint64_t state;
	if (state == 0) {
		if (getrandom(&state, sizeof state, GRND_NONBLOCK) != sizeof state)
			state = (uint64_t)real_wall_ms() ^ (uint64_t)real_mono_ms() << 20;
		state |= 1;
	}
	/* xorshift64*: jitter only needs to differ between agents. */
	state ^= state >> 12;
	state ^= state << 25;
	state ^= state >> 27;
	return (uint32_t)((state * 2685821657736338717ULL) >> 32);
}

static const char *real_getenv(const char *name)
{
	return getenv(name);
}

static void real_sleep_ms(int64_t ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
	while (ms > 0 && nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

const struct sys sys_real = { real_getenv, real_mono_ms, real_wall_ms, real_random, real_sleep_ms };

const char *sys_env(const struct sys *s, const char *name)
{
	const char *v = s->getenv(name);
	return v && *v ? v : NULL;
}
