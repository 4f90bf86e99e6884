// C11 threads (<threads.h>) for ThreadSanitizer, on pthreads.
//
// What: librdkafka on Debian 12 creates its threads and takes its locks with
// glibc's C11 threads (thrd_create, mtx_lock, cnd_wait, call_once). glibc
// implements them by calling its pthread functions internally, which
// ThreadSanitizer cannot intercept, and clang 14's TSan has no interceptors
// for the C11 names (they came with LLVM 15). A thread TSan did not see start
// crashes in TSan's allocator on its first malloc (seen: every Kafka test,
// in librdkafka's broker threads, inside getaddrinfo). This library defines
// the C11 functions as calls to the public pthread functions, which TSan
// intercepts: the threads are known to it and the locks order memory for it.
// The mapping is glibc's own (thrd_t is a pthread_t; mtx_t, cnd_t and
// once_flag have the layout of pthread_mutex_t, pthread_cond_t and
// pthread_once_t).
//
// Built only when STRATA_SANITIZE=thread, into the library every executable of
// that build links first; never part of a normal binary.
// Thread-safety: as the functions it replaces. Ownership: thrd_create's start
// record is freed by the thread it starts.
// Failures: as C11 says (thrd_error, thrd_nomem, thrd_busy, thrd_timedout).

#include <pthread.h>
#include <threads.h>

#include <cerrno>
#include <cstdint>
#include <new>

// TSan's runtime (in the executable): memory writes of this thread are not
// checked between the two.
extern "C" void AnnotateIgnoreWritesBegin(const char* file, int line);
extern "C" void AnnotateIgnoreWritesEnd(const char* file, int line);

static_assert(sizeof(mtx_t) == sizeof(pthread_mutex_t));
static_assert(sizeof(cnd_t) == sizeof(pthread_cond_t));
static_assert(sizeof(once_flag) == sizeof(pthread_once_t));
static_assert(sizeof(thrd_t) == sizeof(pthread_t));

namespace {

int FromErrno(int err) {
  switch (err) {
    case 0:
      return thrd_success;
    case EBUSY:
      return thrd_busy;
    case ETIMEDOUT:
      return thrd_timedout;
    case ENOMEM:
    case EAGAIN:
      return thrd_nomem;
    default:
      return thrd_error;
  }
}

// librdkafka initializes a lock on one thread and hands it to another through
// its own atomics, which TSan cannot see: the initialization's (and the
// destruction's) writes to the lock's memory would be reported as racing with
// its first use. They are not checked; the locking itself is.
class IgnoreWrites {
 public:
  IgnoreWrites() { AnnotateIgnoreWritesBegin(__FILE__, __LINE__); }
  ~IgnoreWrites() { AnnotateIgnoreWritesEnd(__FILE__, __LINE__); }
  IgnoreWrites(const IgnoreWrites&) = delete;
  IgnoreWrites& operator=(const IgnoreWrites&) = delete;
};

pthread_mutex_t* Mutex(mtx_t* m) { return reinterpret_cast<pthread_mutex_t*>(m); }
pthread_cond_t* Cond(cnd_t* c) { return reinterpret_cast<pthread_cond_t*>(c); }

struct Start {
  thrd_start_t fn;
  void* arg;
};

void* Trampoline(void* p) {
  Start start = *static_cast<Start*>(p);
  delete static_cast<Start*>(p);
  return reinterpret_cast<void*>(static_cast<intptr_t>(start.fn(start.arg)));
}

}  // namespace

extern "C" {

int thrd_create(thrd_t* thr, thrd_start_t fn, void* arg) {
  auto* start = new (std::nothrow) Start{fn, arg};
  if (start == nullptr) return thrd_nomem;
  int err = pthread_create(reinterpret_cast<pthread_t*>(thr), nullptr, Trampoline, start);
  if (err != 0) delete start;
  return FromErrno(err);
}

int thrd_join(thrd_t thr, int* res) {
  void* ret = nullptr;
  int err = pthread_join(static_cast<pthread_t>(thr), &ret);
  if (err == 0 && res != nullptr) *res = static_cast<int>(reinterpret_cast<intptr_t>(ret));
  return err == 0 ? thrd_success : thrd_error;
}

int thrd_detach(thrd_t thr) {
  return pthread_detach(static_cast<pthread_t>(thr)) == 0 ? thrd_success : thrd_error;
}

int mtx_init(mtx_t* m, int type) {
  IgnoreWrites ignore;
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_settype(&attr, (type & mtx_recursive) != 0 ? PTHREAD_MUTEX_RECURSIVE
                                                               : PTHREAD_MUTEX_NORMAL);
  int err = pthread_mutex_init(Mutex(m), &attr);
  pthread_mutexattr_destroy(&attr);
  return FromErrno(err);
}

int mtx_lock(mtx_t* m) { return FromErrno(pthread_mutex_lock(Mutex(m))); }
int mtx_trylock(mtx_t* m) { return FromErrno(pthread_mutex_trylock(Mutex(m))); }
int mtx_timedlock(mtx_t* __restrict m, const struct timespec* __restrict at) {
  return FromErrno(pthread_mutex_timedlock(Mutex(m), at));
}
int mtx_unlock(mtx_t* m) { return FromErrno(pthread_mutex_unlock(Mutex(m))); }
void mtx_destroy(mtx_t* m) {
  IgnoreWrites ignore;
  pthread_mutex_destroy(Mutex(m));
}

int cnd_init(cnd_t* c) {
  IgnoreWrites ignore;
  return FromErrno(pthread_cond_init(Cond(c), nullptr));
}
int cnd_signal(cnd_t* c) { return FromErrno(pthread_cond_signal(Cond(c))); }
int cnd_broadcast(cnd_t* c) { return FromErrno(pthread_cond_broadcast(Cond(c))); }
int cnd_wait(cnd_t* c, mtx_t* m) { return FromErrno(pthread_cond_wait(Cond(c), Mutex(m))); }
int cnd_timedwait(cnd_t* __restrict c, mtx_t* __restrict m, const struct timespec* __restrict at) {
  return FromErrno(pthread_cond_timedwait(Cond(c), Mutex(m), at));
}
void cnd_destroy(cnd_t* c) {
  IgnoreWrites ignore;
  pthread_cond_destroy(Cond(c));
}

void call_once(once_flag* flag, void (*fn)(void)) {
  pthread_once(reinterpret_cast<pthread_once_t*>(flag), fn);
}

}  // extern "C"
