// One OS thread per model, running the model's tasks in the order they were
// posted. LibTorch's OpenMP thread team belongs to the thread that calls it,
// so running every operation of a model on the same thread keeps one warm
// team instead of one per caller (a team per libuv worker measured ~25%
// slower at batch 1 with 2 threads). Posting never blocks on the task; the
// poster learns of completion from the task itself (the addon settles a
// promise through a thread-safe function), so no other thread waits here.
//
// Free of Node-API and torch: plain threads, usable from any thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace torchdog {

class SerialExecutor {
 public:
  // Called exactly once, on the executor's thread. `cancelled` is true when
  // CancelQueued() reached the task before it started: it should then only
  // report that it did not run (and release what it holds).
  using Task = std::function<void(bool cancelled)>;

  SerialExecutor();
  // Runs what is still queued (cancelled tasks as cancelled), then joins.
  ~SerialExecutor();
  SerialExecutor(const SerialExecutor&) = delete;
  SerialExecutor& operator=(const SerialExecutor&) = delete;

  // Queues `task` behind the others; returns at once.
  void Post(Task task);
  // Marks every task queued and not yet started as cancelled. The task that
  // is running, if any, finishes; tasks posted later are not affected.
  void CancelQueued();

  // Executors alive in this process (threads started and not yet joined).
  static int64_t LiveCount();

 private:
  struct Entry {
    Task task;
    bool cancelled;
  };

  void Loop();
  // Lets the thread end once the queue is empty (after the running task
  // when `cancel`: the rest then run as cancelled) and joins it; idempotent.
  void StopAndJoin(bool cancel);
  static void StopAllAtExit();

  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<Entry> tasks_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts after the members it uses exist
};

}  // namespace torchdog
