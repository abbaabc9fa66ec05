/* Preloaded before libfaketime by scripts/test-clock.
 *
 * With FAKETIME_DONT_FAKE_MONOTONIC=1 (needed: Python's timeouts wait on the real
 * CLOCK_MONOTONIC through sem_clockwait, which libfaketime 0.9.10 does not intercept),
 * libfaketime 0.9.10 still shifts an absolute CLOCK_MONOTONIC deadline given to
 * clock_nanosleep by the fake offset, and the kernel answers EINVAL: every time.sleep()
 * in Python 3.11 fails. Monotonic and boot-time sleeps go straight to the kernel here;
 * real-time sleeps go on to libfaketime, which fakes them as it should.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int clock_nanosleep(clockid_t clock, int flags, const struct timespec *request,
                    struct timespec *remain) {
  static int (*next)(clockid_t, int, const struct timespec *, struct timespec *);
  if (clock == CLOCK_MONOTONIC || clock == CLOCK_BOOTTIME) {
    /* clock_nanosleep returns the error number; the raw syscall sets errno */
    return syscall(SYS_clock_nanosleep, clock, flags, request, remain) == 0 ? 0 : errno;
  }
  if (!next) next = (int (*)(clockid_t, int, const struct timespec *, struct timespec *))
                        dlsym(RTLD_NEXT, "clock_nanosleep");
  return next(clock, flags, request, remain);
}
