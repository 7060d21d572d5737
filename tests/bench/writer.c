/*
 * The log relay's load: writes BYTES zero bytes to stdout in 64 KiB writes.
 *
 *   writer BYTES
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

static char chunk[64 * 1024];

int main(int argc, char **argv)
{
	long long left = argc > 1 ? atoll(argv[1]) : 0;

	while (left > 0) {
		size_t n = left < (long long)sizeof(chunk) ? (size_t)left : sizeof(chunk);
		ssize_t w = write(1, chunk, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		left -= w;
	}
	return 0;
}
