#include "serial_executor.h"

#include <atomic>
#include <cstdlib>
#include <set>

namespace torchdog {
namespace {

// Every executor alive, so that process exit can stop them. process.exit()
// does not tear the Node environment down (no finalizers run): it calls
// exit(), whose static destructors would free LibTorch's and OpenMP's state
// under a running operation. The atexit handler, registered after LibTorch
// loaded, runs before those destructors and joins every executor: the
// running operation completes, the queued ones are cancelled.
struct Registry {
  std::mutex mutex;
  std::set<SerialExecutor*> executors;
};

Registry& TheRegistry() {
  static Registry* registry = new Registry;  // never destroyed: used by the atexit handler
  return *registry;
}

std::atomic<int64_t> live_count{0};

}  // namespace

SerialExecutor::SerialExecutor() : thread_([this] { Loop(); }) {
  ++live_count;
  static std::once_flag at_exit;
  std::call_once(at_exit, [] { std::atexit(&SerialExecutor::StopAllAtExit); });
  Registry& registry = TheRegistry();
  std::lock_guard<std::mutex> lock(registry.mutex);
  registry.executors.insert(this);
}

SerialExecutor::~SerialExecutor() {
  {
    Registry& registry = TheRegistry();
    std::lock_guard<std::mutex> lock(registry.mutex);
    registry.executors.erase(this);
  }
  StopAndJoin(/*cancel=*/false);
}

void SerialExecutor::Post(Task task) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    tasks_.push_back({std::move(task), false});
  }
  ready_.notify_one();
}

void SerialExecutor::CancelQueued() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& entry : tasks_) entry.cancelled = true;
}

int64_t SerialExecutor::LiveCount() { return live_count.load(); }

void SerialExecutor::Loop() {
  for (;;) {
    Entry entry;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      ready_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
      if (tasks_.empty()) return;
      entry = std::move(tasks_.front());
      tasks_.pop_front();
    }
    entry.task(entry.cancelled);
  }
}

void SerialExecutor::StopAndJoin(bool cancel) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (cancel) {
      for (auto& entry : tasks_) entry.cancelled = true;
    }
    stopping_ = true;
  }
  ready_.notify_one();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) {
    thread_.join();
    --live_count;
  }
}

void SerialExecutor::StopAllAtExit() {
  Registry& registry = TheRegistry();
  std::lock_guard<std::mutex> lock(registry.mutex);
  for (SerialExecutor* executor : registry.executors) executor->StopAndJoin(/*cancel=*/true);
}

}  // namespace torchdog
