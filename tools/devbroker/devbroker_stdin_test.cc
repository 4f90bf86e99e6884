// strata-devbroker started as a script, CI or nohup starts it (stdin at
// /dev/null) keeps running until SIGTERM, instead of stopping at once; on a
// pipe, the pipe's end still stops it (tests drive it that way).

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>

extern char** environ;

namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

// Starts the broker with stdin from `stdin_path` (or the read end of `pipe_fds`).
pid_t Start(const std::string& out, const char* stdin_path, int stdin_fd = -1) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (stdin_path) posix_spawn_file_actions_addopen(&actions, 0, stdin_path, O_RDONLY, 0);
  else posix_spawn_file_actions_adddup2(&actions, stdin_fd, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  const std::string binary = STRATA_DEVBROKER;
  char* argv[] = {const_cast<char*>(binary.c_str()), const_cast<char*>("--partitions"), const_cast<char*>("1"),
                  nullptr};
  pid_t pid = -1;
  EXPECT_EQ(posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv, environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

bool ExitsWithin(pid_t pid, std::chrono::milliseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

TEST(DevbrokerStdinTest, WithoutControlInputItRunsUntilTerminated) {
  const std::string out = "/tmp/devbroker-stdin-" + std::to_string(getpid()) + ".out";
  const pid_t pid = Start(out, "/dev/null");
  ASSERT_GT(pid, 0);
  EXPECT_FALSE(ExitsWithin(pid, std::chrono::milliseconds(1500))) << ReadFile(out);
  const std::string printed = ReadFile(out);
  EXPECT_NE(printed.find("bootstrap: 127.0.0.1:"), std::string::npos) << printed;
  EXPECT_NE(printed.find("control: none"), std::string::npos) << printed;
  kill(pid, SIGTERM);
  const bool exited = ExitsWithin(pid, std::chrono::seconds(10));
  EXPECT_TRUE(exited);
  if (!exited) kill(pid, SIGKILL), waitpid(pid, nullptr, 0);
  unlink(out.c_str());
}

TEST(DevbrokerStdinTest, TheEndOfAControlPipeStopsIt) {
  const std::string out = "/tmp/devbroker-pipe-" + std::to_string(getpid()) + ".out";
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);  // the broker gets only the read end, as its stdin
  const pid_t pid = Start(out, nullptr, fds[0]);
  close(fds[0]);
  ASSERT_GT(pid, 0);
  const std::string command = "rtt 1 0\n";
  ASSERT_EQ(write(fds[1], command.data(), command.size()), static_cast<ssize_t>(command.size()));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  close(fds[1]);  // the owner is gone
  const bool exited = ExitsWithin(pid, std::chrono::seconds(10));
  EXPECT_TRUE(exited);
  if (!exited) kill(pid, SIGKILL), waitpid(pid, nullptr, 0);
  EXPECT_NE(ReadFile(out).find("ok: "), std::string::npos) << ReadFile(out);
  unlink(out.c_str());
}

}  // namespace
