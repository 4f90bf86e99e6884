// Multi-site race: one Kafka log (strata-devbroker), two strata-lock instances
// with different --site, clients on both hammering check-out of the same
// objects at once. For every object exactly one client wins, and both
// instances report that client as the holder. Then renames at one site race
// check-outs of the new names at the other: one of the two gets each name.
#include <gtest/gtest.h>

#include <algorithm>
#include <latch>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "fmt/format.h"
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

// Alice (boston) renames race.oI to race.nI, keeping it, while Bob (london)
// checks out race.nI for a new object. The rename reserves the new name
// first, so exactly one of them gets it, and both sites then agree on who
// holds it and where the object lives.
TEST(MultiSiteRaceTest, ARenameRacingACheckOutOfTheNewNameHasOneWinnerAndBothSitesAgree) {
  constexpr int kPairs = 12;
  auto broker = std::make_shared<Devbroker>(4);
  Stack boston("kafka", broker), london("kafka", broker);
  boston.Start("boston");
  london.Start("london");
  auto old_name = [](int i) { return "table:race.o" + std::to_string(i); };
  auto new_name = [](int i) { return "table:race.n" + std::to_string(i); };
  for (int i = 0; i < kPairs; ++i) {
    v1::CheckOutRequest out;
    out.add_objects(old_name(i));
    v1::CheckOutResponse out_resp;
    ASSERT_TRUE(boston.Stub()->CheckOut(Ctx("alice-token").get(), out, &out_resp).ok());
    v1::CheckInRequest in;
    in.set_object(old_name(i));
    in.set_definition("CREATE TABLE race.o" + std::to_string(i) + " (id int PRIMARY KEY, note text);");
    in.set_message("first");
    in.set_keep_checked_out(true);
    v1::CheckInResponse in_resp;
    grpc::Status s = boston.Stub()->CheckIn(Ctx("alice-token").get(), in, &in_resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  std::latch start(2 * kPairs);
  std::vector<int> renamed(kPairs), taken(kPairs);
  std::vector<std::thread> threads;
  for (int i = 0; i < kPairs; ++i) {
    threads.emplace_back([&, i] {
      v1::RenameRequest req;
      req.set_object(old_name(i));
      req.set_to("n" + std::to_string(i));
      req.set_message("clearer name");
      req.set_keep_checked_out(true);
      v1::RenameResponse resp;
      auto stub = boston.Stub();
      start.arrive_and_wait();
      grpc::Status s = stub->Rename(Ctx("alice-token").get(), req, &resp);
      renamed[i] = s.ok();
      if (!s.ok()) {
        EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
        EXPECT_NE(s.error_message().find("checked out by bob"), std::string::npos) << s.error_message();
      }
    });
    threads.emplace_back([&, i] {
      v1::CheckOutRequest req;
      req.add_objects(new_name(i));
      req.set_new_object(true);
      v1::CheckOutResponse resp;
      auto stub = london.Stub();
      start.arrive_and_wait();
      grpc::Status s = stub->CheckOut(Ctx("bob-token").get(), req, &resp);
      taken[i] = s.ok();
      if (!s.ok()) {
        EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
        EXPECT_NE(s.error_message().find("checked out by alice"), std::string::npos) << s.error_message();
      }
    });
  }
  for (auto& t : threads) t.join();

  // What one site says about a pair: who holds the new name, what it was
  // renamed from, and where the old name went.
  auto seen = [&](Stack& site, int i) {
    v1::GetObjectRequest req;
    v1::ObjectHead fresh, old;
    req.set_object(new_name(i));
    EXPECT_TRUE(site.Stub()->GetObject(Ctx("alice-token").get(), req, &fresh).ok());
    req.set_object(old_name(i));
    EXPECT_TRUE(site.Stub()->GetObject(Ctx("alice-token").get(), req, &old).ok());
    return fmt::format("{} holds {} (renamed from '{}'); {} renamed to '{}'", fresh.lock().user(), new_name(i),
                       fresh.renamed_from(), old_name(i), old.renamed_to());
  };
  int renames = 0;
  for (int i = 0; i < kPairs; ++i) {
    ASSERT_EQ(renamed[i] + taken[i], 1) << "pair " << i << ": rename " << renamed[i] << ", check-out " << taken[i];
    renames += renamed[i];
    const std::string expected =
        renamed[i] ? fmt::format("alice holds {} (renamed from '{}'); {} renamed to '{}'", new_name(i), old_name(i),
                                 old_name(i), new_name(i))
                   : fmt::format("bob holds {} (renamed from ''); {} renamed to ''", new_name(i), old_name(i));
    for (Stack* site : {&boston, &london}) {
      std::string got;
      for (int tries = 0; tries < 200 && (got = seen(*site, i)) != expected; ++tries)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      EXPECT_EQ(got, expected) << (site == &boston ? "boston" : "london");
    }
  }
  std::printf("renames won %d of %d races\n", renames, kPairs);
}

}  // namespace
}  // namespace strata::testing
