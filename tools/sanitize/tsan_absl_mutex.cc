// ThreadSanitizer annotations for Debian's absl::Mutex and absl::CondVar.
//
// What: Debian's libabsl_synchronization is not built with ThreadSanitizer.
// Its Mutex waits on futexes through raw syscalls, which TSan cannot see, so
// without this file every member guarded by an absl::Mutex (ABSL_GUARDED_BY)
// would be reported as a race, and gRPC's own hand-offs (gpr_mu is an
// absl::Mutex) would be invisible too. An instrumented absl annotates its
// mutex with the __tsan_mutex_* annotations; this library does the same from
// the outside: it defines the public Mutex/CondVar entry points, which the
// dynamic linker binds ahead of libabsl's (the library is linked first into
// every executable of a TSan build), annotates each, and calls libabsl's own
// definition, found with dlsym(RTLD_NEXT).
//
// Built only when STRATA_SANITIZE=thread; never part of a normal binary.
// Thread-safety: every function here is called concurrently, as absl's are;
// the only state is the resolved function pointers (function-local statics).
// Failures: a symbol that cannot be resolved is impossible on the Debian
// abseil the build found (the names come from its headers): abort.

#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/base/options.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace {

#define STRATA_STR2(x) #x
#define STRATA_STR(x) STRATA_STR2(x)

// "_ZN4absl<len><inline namespace>" + rest: the mangled name of a member of
// absl's inline namespace (debian3 on Debian 12).
void* Real(const char* rest) {
  std::string ns = STRATA_STR(ABSL_OPTION_INLINE_NAMESPACE_NAME);
  std::string name = "_ZN4absl" + std::to_string(ns.size()) + ns + rest;
  void* fn = dlsym(RTLD_NEXT, name.c_str());
  if (fn == nullptr) {
    std::fprintf(stderr, "tsan_absl_mutex: %s not found in libabsl\n", name.c_str());
    std::abort();
  }
  return fn;
}

template <typename Fn>
Fn Resolve(const char* rest) {
  return reinterpret_cast<Fn>(Real(rest));
}

using absl::Condition;
using absl::CondVar;
using absl::Duration;
using absl::Mutex;
using absl::Time;

constexpr unsigned kRead = __tsan_mutex_read_lock;
constexpr unsigned kTry = __tsan_mutex_try_lock;
constexpr unsigned kTryFailed = __tsan_mutex_try_lock_failed;

// libabsl calls some of its public entry points itself (WaitWithTimeout calls
// WaitWithDeadline, LockWhenWithTimeout calls LockWhenWithDeadline), and those
// calls bind to the definitions below too: only the outermost call of a thread
// annotates, or TSan would see a mutex unlocked twice.
class Outermost {
 public:
  Outermost() : outer_(depth_++ == 0) {}
  ~Outermost() { --depth_; }
  Outermost(const Outermost&) = delete;
  Outermost& operator=(const Outermost&) = delete;

  void PreLock(void* mu, unsigned flags) const {
    if (outer_) __tsan_mutex_pre_lock(mu, flags);
  }
  void PostLock(void* mu, unsigned flags) const {
    if (outer_) __tsan_mutex_post_lock(mu, flags, 0);
  }
  void PreUnlock(void* mu, unsigned flags) const {
    if (outer_) __tsan_mutex_pre_unlock(mu, flags);
  }
  void PostUnlock(void* mu, unsigned flags) const {
    if (outer_) __tsan_mutex_post_unlock(mu, flags);
  }
  // A wait (Await, CondVar::Wait) releases the mutex and takes it again: TSan
  // sees an unlock followed by a lock around the uninstrumented call.
  void WaitBegin(void* mu) const {
    PreUnlock(mu, 0);
    PostUnlock(mu, 0);
    PreLock(mu, 0);
  }
  void WaitEnd(void* mu) const { PostLock(mu, 0); }

 private:
  static thread_local int depth_;
  const bool outer_;
};
thread_local int Outermost::depth_ = 0;

}  // namespace

// The definitions below replace libabsl's for the whole process. They are
// declared, not defined, in absl/synchronization/mutex.h.
#pragma clang diagnostic ignored "-Wthread-safety-analysis"

namespace absl {
ABSL_NAMESPACE_BEGIN

// No __tsan_mutex_destroy: gRPC destroys mutexes (its thread pool's, a
// channel's) on whichever thread drops the last reference of a shared_ptr in
// its own, uninstrumented code, so TSan would see the destruction race with
// the last unlock. Freeing the memory resets TSan's state for the mutex.
Mutex::~Mutex() {
  static auto real = Resolve<void (*)(Mutex*)>("5MutexD2Ev");
  real(this);
}

void Mutex::Lock() {
  static auto real = Resolve<void (*)(Mutex*)>("5Mutex4LockEv");
  Outermost o;
  o.PreLock(this, 0);
  real(this);
  o.PostLock(this, 0);
}

void Mutex::Unlock() {
  static auto real = Resolve<void (*)(Mutex*)>("5Mutex6UnlockEv");
  Outermost o;
  o.PreUnlock(this, 0);
  real(this);
  o.PostUnlock(this, 0);
}

bool Mutex::TryLock() {
  static auto real = Resolve<bool (*)(Mutex*)>("5Mutex7TryLockEv");
  Outermost o;
  o.PreLock(this, kTry);
  bool ok = real(this);
  o.PostLock(this, ok ? kTry : kTry | kTryFailed);
  return ok;
}

void Mutex::ReaderLock() {
  static auto real = Resolve<void (*)(Mutex*)>("5Mutex10ReaderLockEv");
  Outermost o;
  o.PreLock(this, kRead);
  real(this);
  o.PostLock(this, kRead);
}

void Mutex::ReaderUnlock() {
  static auto real = Resolve<void (*)(Mutex*)>("5Mutex12ReaderUnlockEv");
  Outermost o;
  o.PreUnlock(this, kRead);
  real(this);
  o.PostUnlock(this, kRead);
}

bool Mutex::ReaderTryLock() {
  static auto real = Resolve<bool (*)(Mutex*)>("5Mutex13ReaderTryLockEv");
  Outermost o;
  o.PreLock(this, kRead | kTry);
  bool ok = real(this);
  o.PostLock(this, ok ? kRead | kTry : kRead | kTry | kTryFailed);
  return ok;
}

void Mutex::LockWhen(const Condition& cond) {
  static auto real = Resolve<void (*)(Mutex*, const Condition&)>("5Mutex8LockWhenERKNS0_9ConditionE");
  Outermost o;
  o.PreLock(this, 0);
  real(this, cond);
  o.PostLock(this, 0);
}

void Mutex::ReaderLockWhen(const Condition& cond) {
  static auto real = Resolve<void (*)(Mutex*, const Condition&)>("5Mutex14ReaderLockWhenERKNS0_9ConditionE");
  Outermost o;
  o.PreLock(this, kRead);
  real(this, cond);
  o.PostLock(this, kRead);
}

bool Mutex::LockWhenWithTimeout(const Condition& cond, Duration timeout) {
  static auto real = Resolve<bool (*)(Mutex*, const Condition&, Duration)>(
      "5Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  Outermost o;
  o.PreLock(this, 0);
  bool ok = real(this, cond, timeout);
  o.PostLock(this, 0);
  return ok;
}

bool Mutex::ReaderLockWhenWithTimeout(const Condition& cond, Duration timeout) {
  static auto real = Resolve<bool (*)(Mutex*, const Condition&, Duration)>(
      "5Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  Outermost o;
  o.PreLock(this, kRead);
  bool ok = real(this, cond, timeout);
  o.PostLock(this, kRead);
  return ok;
}

bool Mutex::LockWhenWithDeadline(const Condition& cond, Time deadline) {
  static auto real = Resolve<bool (*)(Mutex*, const Condition&, Time)>(
      "5Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  Outermost o;
  o.PreLock(this, 0);
  bool ok = real(this, cond, deadline);
  o.PostLock(this, 0);
  return ok;
}

bool Mutex::ReaderLockWhenWithDeadline(const Condition& cond, Time deadline) {
  static auto real = Resolve<bool (*)(Mutex*, const Condition&, Time)>(
      "5Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  Outermost o;
  o.PreLock(this, kRead);
  bool ok = real(this, cond, deadline);
  o.PostLock(this, kRead);
  return ok;
}

// Await is called with the mutex held exclusively (absl also allows a reader
// hold; none of Strata's or gRPC's callers do).
void Mutex::Await(const Condition& cond) {
  static auto real = Resolve<void (*)(Mutex*, const Condition&)>("5Mutex5AwaitERKNS0_9ConditionE");
  Outermost o;
  o.WaitBegin(this);
  real(this, cond);
  o.WaitEnd(this);
}

bool Mutex::AwaitWithTimeout(const Condition& cond, Duration timeout) {
  static auto real = Resolve<bool (*)(Mutex*, const Condition&, Duration)>(
      "5Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  Outermost o;
  o.WaitBegin(this);
  bool ok = real(this, cond, timeout);
  o.WaitEnd(this);
  return ok;
}

bool Mutex::AwaitWithDeadline(const Condition& cond, Time deadline) {
  static auto real = Resolve<bool (*)(Mutex*, const Condition&, Time)>(
      "5Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  Outermost o;
  o.WaitBegin(this);
  bool ok = real(this, cond, deadline);
  o.WaitEnd(this);
  return ok;
}

void CondVar::Wait(Mutex* mu) {
  static auto real = Resolve<void (*)(CondVar*, Mutex*)>("7CondVar4WaitEPNS0_5MutexE");
  Outermost o;
  o.WaitBegin(mu);
  real(this, mu);
  o.WaitEnd(mu);
}

bool CondVar::WaitWithTimeout(Mutex* mu, Duration timeout) {
  static auto real = Resolve<bool (*)(CondVar*, Mutex*, Duration)>(
      "7CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE");
  Outermost o;
  o.WaitBegin(mu);
  bool timed_out = real(this, mu, timeout);
  o.WaitEnd(mu);
  return timed_out;
}

bool CondVar::WaitWithDeadline(Mutex* mu, Time deadline) {
  static auto real = Resolve<bool (*)(CondVar*, Mutex*, Time)>(
      "7CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE");
  Outermost o;
  o.WaitBegin(mu);
  bool timed_out = real(this, mu, deadline);
  o.WaitEnd(mu);
  return timed_out;
}

ABSL_NAMESPACE_END
}  // namespace absl
