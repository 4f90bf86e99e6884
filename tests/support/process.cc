#include "support/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <random>
#include <string_view>

extern char** environ;

namespace strata::testing {

Process::Process(std::vector<std::string> argv, std::string stderr_path) {
  // Built before fork: the child only execs.
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  std::vector<char*> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view var(*e);
    if (var.starts_with("PG") || var.starts_with("STRATA_SHADOW_URL=")) continue;
    env.push_back(*e);
  }
  env.push_back(nullptr);
  int out[2], in[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(in, O_CLOEXEC) != 0) return;
  pid_ = fork();
  if (pid_ == 0) {
    dup2(out[1], 1);
    dup2(in[0], 0);
    if (!stderr_path.empty()) {
      int fd = open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) dup2(fd, 2);
    }
    setpgid(0, 0);
    execve(args[0], args.data(), env.data());
    _exit(127);
  }
  close(out[1]);
  close(in[0]);
  stdin_fd_ = in[1];
  reader_ = std::thread([this, fd = out[0]] { ReadLoop(fd); });
}

Process::~Process() {
  if (Running()) Signal(SIGKILL);
  if (stdin_fd_ >= 0) close(stdin_fd_);
  if (reader_.joinable()) reader_.join();
}

void Process::ReadLoop(int fd) {
  std::string buf;
  char chunk[4096];
  ssize_t n;
  while ((n = read(fd, chunk, sizeof chunk)) > 0) {
    buf.append(chunk, n);
    size_t nl;
    while ((nl = buf.find('\n')) != std::string::npos) {
      std::lock_guard lk(mu_);
      lines_.push_back(buf.substr(0, nl));
      buf.erase(0, nl + 1);
    }
  }
  close(fd);
}

std::optional<std::string> Process::WaitForLine(const std::string& pattern,
                                                std::chrono::milliseconds timeout) {
  const std::regex re(pattern);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  size_t seen = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard lk(mu_);
      for (; seen < lines_.size(); ++seen) {
        std::smatch m;
        if (std::regex_search(lines_[seen], m, re)) return m.size() > 1 ? m[1].str() : m[0].str();
      }
    }
    if (!Running()) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return std::nullopt;
}

bool Process::SendLine(const std::string& line) {
  std::string l = line + "\n";
  return write(stdin_fd_, l.data(), l.size()) == static_cast<ssize_t>(l.size());
}

bool Process::Running() {
  if (pid_ <= 0 || exited_) return false;
  int st;
  if (waitpid(pid_, &st, WNOHANG) == pid_) {
    exited_ = true;
    status_ = st;
    return false;
  }
  return true;
}

void Process::Notify(int sig) {
  if (Running()) kill(pid_, sig);
}

int Process::Signal(int sig) {
  if (!Running()) return status_;
  kill(pid_, sig);
  int st = 0;
  waitpid(pid_, &st, 0);
  exited_ = true;
  status_ = st;
  return st;
}

std::vector<std::string> Process::lines() {
  std::lock_guard lk(mu_);
  return lines_;
}

TempDir::TempDir(const std::string& prefix) {
  std::random_device rd;
  path_ = (std::filesystem::temp_directory_path() /
           (prefix + "-" + std::to_string(getpid()) + "-" + std::to_string(rd())))
              .string();
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace strata::testing
