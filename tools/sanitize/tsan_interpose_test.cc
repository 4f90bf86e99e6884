// Runs only in the TSan build (STRATA_SANITIZE=thread): without the
// interposers next to it, ThreadSanitizer reports the guarded counter below as
// a race (Debian's absl::Mutex is invisible to it) and the C11 thread crashes
// in TSan's allocator (clang 14 does not intercept thrd_create); either ends
// the test process with a failure.

#include <threads.h>

#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"

namespace {

constexpr int kRounds = 2000;

struct Counter {
  absl::Mutex mu;  // guards value and done
  absl::CondVar cv;
  int value ABSL_GUARDED_BY(mu) = 0;
  bool done ABSL_GUARDED_BY(mu) = false;
};

TEST(TsanInterpose, AbslMutexAndCondVarOrderMemoryForTsan) {
  Counter c;
  std::thread other([&c] {
    for (int i = 0; i < kRounds; ++i) {
      absl::MutexLock lock(&c.mu);
      ++c.value;
    }
    absl::MutexLock lock(&c.mu);
    c.done = true;
    c.cv.Signal();
  });
  for (int i = 0; i < kRounds; ++i) {
    absl::MutexLock lock(&c.mu);
    ++c.value;
  }
  {
    absl::MutexLock lock(&c.mu);
    while (!c.done) c.cv.WaitWithTimeout(&c.mu, absl::Seconds(1));  // WaitWithDeadline inside
    EXPECT_EQ(c.value, 2 * kRounds);
  }
  other.join();
  absl::MutexLock lock(&c.mu);
  EXPECT_TRUE(c.mu.AwaitWithTimeout(absl::Condition(&c.done), absl::Seconds(1)));
}

struct Shared {
  mtx_t mu;
  int value = 0;  // under mu
};

int AddFromC11Thread(void* arg) {
  auto* s = static_cast<Shared*>(arg);
  for (int i = 0; i < kRounds; ++i) {
    mtx_lock(&s->mu);
    ++s->value;
    mtx_unlock(&s->mu);
  }
  return 7;
}

TEST(TsanInterpose, C11ThreadsAreSeenByTsan) {
  Shared s;
  ASSERT_EQ(mtx_init(&s.mu, mtx_plain), thrd_success);
  thrd_t t;
  ASSERT_EQ(thrd_create(&t, AddFromC11Thread, &s), thrd_success);
  for (int i = 0; i < kRounds; ++i) {
    mtx_lock(&s.mu);
    ++s.value;
    mtx_unlock(&s.mu);
  }
  int result = 0;
  ASSERT_EQ(thrd_join(t, &result), thrd_success);
  EXPECT_EQ(result, 7);
  EXPECT_EQ(s.value, 2 * kRounds);
  mtx_destroy(&s.mu);
}

}  // namespace
