// Multi-site race: one Kafka log (strata-devbroker), two strata-lock instances
// with different --site, clients on both hammering check-out of the same
// objects at once. For every object exactly one client wins, and both
// instances report that client as the holder.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "support/stack.h"

namespace strata::testing {
namespace {

constexpr int kObjects = 24;
constexpr int kClientsPerSite = 8;

std::string Obj(int i) { return "table:race.t" + std::to_string(i); }

std::map<std::string, std::string> HoldersSeenBy(Stack& stack) {
  v1::ListLocksResponse resp;
  auto stub = stack.Stub();
  EXPECT_TRUE(stub->ListLocks(Ctx("alice-token").get(), {}, &resp).ok());
  std::map<std::string, std::string> out;
  for (const auto& l : resp.locks()) out[l.object()] = l.user();
  return out;
}

// Waits until `stack` reports `expected` (its projection catches up with the log).
bool EventuallySees(Stack& stack, const std::map<std::string, std::string>& expected) {
  for (int i = 0; i < 200; ++i) {
    if (HoldersSeenBy(stack) == expected) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

// Every client tries every object once, in its own random order. Returns the
// winners reported to clients: object -> users that were told "granted".
std::map<std::string, std::vector<std::string>> Race(Stack& a, Stack& b, int round) {
  std::mutex mu;
  std::map<std::string, std::vector<std::string>> granted;
  std::atomic<int> unexpected{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 2 * kClientsPerSite; ++c) {
    clients.emplace_back([&, c] {
      Stack& site = c < kClientsPerSite ? a : b;
      auto stub = site.Stub();
      std::vector<int> order(kObjects);
      std::iota(order.begin(), order.end(), 0);
      std::shuffle(order.begin(), order.end(), std::mt19937(c * 7919 + round));
      for (int i : order) {
        v1::CheckOutRequest req;
        req.add_objects(Obj(i));
        v1::CheckOutResponse resp;
        grpc::Status s = stub->CheckOut(Ctx(RacerToken(c)).get(), req, &resp);
        if (s.ok()) {
          std::lock_guard lk(mu);
          granted[Obj(i)].push_back("racer" + std::to_string(c));
        } else if (s.error_code() != grpc::StatusCode::FAILED_PRECONDITION) {
          ADD_FAILURE() << "unexpected status " << s.error_code() << ": " << s.error_message();
          unexpected++;
        } else if (s.error_message().find("is checked out by racer") == std::string::npos) {
          ADD_FAILURE() << "refusal does not name the holder: " << s.error_message();
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  return granted;
}

TEST(MultiSiteRaceTest, ExactlyOneWinnerPerObjectAndBothSitesAgree) {
  auto broker = std::make_shared<Devbroker>(4);
  Stack boston("kafka", broker), london("kafka", broker);
  boston.Start("boston");
  london.Start("london");

  for (int round = 0; round < 2; ++round) {
    auto granted = Race(boston, london, round);
    std::map<std::string, std::string> winners;
    for (int i = 0; i < kObjects; ++i) {
      const auto& users = granted[Obj(i)];
      ASSERT_EQ(users.size(), 1u) << Obj(i) << " was granted to " << users.size() << " clients";
      winners[Obj(i)] = users[0];
    }
    EXPECT_TRUE(EventuallySees(boston, winners)) << "boston disagrees in round " << round;
    EXPECT_TRUE(EventuallySees(london, winners)) << "london disagrees in round " << round;

    // Winners give the objects back (through the other site) for the next round.
    for (const auto& [object, user] : winners) {
      const int n = std::stoi(user.substr(5));
      Stack& other = n < kClientsPerSite ? london : boston;
      v1::UndoCheckOutRequest req;
      req.add_objects(object);
      v1::UndoCheckOutResponse resp;
      grpc::Status s = other.Stub()->UndoCheckOut(Ctx(RacerToken(n)).get(), req, &resp);
      // The other site may not have seen the check-out yet; it catches up
      // before refusing, so the undo must succeed.
      ASSERT_TRUE(s.ok()) << object << ": " << s.error_message();
    }
    EXPECT_TRUE(EventuallySees(boston, {}));
    EXPECT_TRUE(EventuallySees(london, {}));
  }
}

}  // namespace
}  // namespace strata::testing
