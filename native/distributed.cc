#include "distributed.h"

#if defined(USE_C10D_GLOO) && __has_include(<torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>) && \
    __has_include(<gloo/config.h>)
#define TORCHDOG_HAS_GLOO 1
#endif

#ifdef TORCHDOG_HAS_GLOO

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/torch.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace torchdog {
namespace {

using std::chrono::milliseconds;

milliseconds Ms(double seconds) { return milliseconds(static_cast<int64_t>(seconds * 1000)); }

std::string MessageOf(const std::exception& e) {
  if (const auto* c10 = dynamic_cast<const c10::Error*>(&e)) return c10->what_without_backtrace();
  return e.what();
}

const std::string kBeatPrefix = "torchdog/beat/";
constexpr auto kBeatPeriod = milliseconds(400);
constexpr auto kBeatWatch = milliseconds(2000);  // a rank that has not beaten in this long has stopped

class GlooCollectives : public Collectives {
 public:
  explicit GlooCollectives(const ProcessGroupOptions& o) : o_(o) {
    const std::string who = "rank " + std::to_string(o.rank) + " of " + std::to_string(o.world_size);
    const std::string master = o.master_addr + ":" + std::to_string(o.master_port);
    try {
      c10d::TCPStoreOptions store;
      store.port = static_cast<uint16_t>(o.master_port);
      store.isServer = o.rank == 0;
      store.numWorkers = o.world_size;
      store.waitWorkers = true;
      store.timeout = Ms(o.connect_timeout_s);
      store_ = c10::make_intrusive<c10d::TCPStore>(o.master_addr, store);
    } catch (const std::exception& e) {
      throw std::runtime_error(who + ": the job's rendezvous at " + master + " did not complete within " +
                               std::to_string(static_cast<int>(o.connect_timeout_s)) + " s (" +
                               (o.rank == 0 ? "not every rank arrived" : "nobody answers there, or not every rank arrived") +
                               "): " + MessageOf(e));
    }
    try {
      auto options = c10d::ProcessGroupGloo::Options::create(Ms(o.op_timeout_s));
      options->devices.push_back(o.host.empty() ? c10d::ProcessGroupGloo::createDeviceForInterface(o.interface)
                                                : c10d::ProcessGroupGloo::createDeviceForHostname(o.host));
      auto prefixed = c10::make_intrusive<c10d::PrefixStore>("torchdog/gloo", store_);
      group_ = c10::make_intrusive<c10d::ProcessGroupGloo>(prefixed, o.rank, o.world_size, options);
    } catch (const std::exception& e) {
      const std::string where = o.host.empty() ? "interface " + o.interface : "address " + o.host;
      throw std::runtime_error(who + ": could not connect Gloo on " + where + ": " + MessageOf(e));
    }
    beat_ = std::thread([this] { Beat(); });
  }

  ~GlooCollectives() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    if (beat_.joinable()) beat_.join();
    group_.reset();
    store_.reset();
  }

  int Rank() const override { return o_.rank; }
  int WorldSize() const override { return o_.world_size; }

  void AverageGradients(const std::vector<at::Tensor>& parameters) override {
    Checked("gradient all-reduce", [&] {
      torch::NoGradGuard no_grad;
      std::vector<torch::Tensor> grads;
      grads.reserve(parameters.size());
      for (const auto& p : parameters) {
        if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
        grads.push_back(p.grad());
      }
      // Buckets of one dtype and about bucket_bytes: one flat tensor each,
      // all in flight at once, then averaged and copied back.
      std::vector<std::vector<torch::Tensor>> buckets;
      int64_t bytes = 0;
      for (const auto& g : grads) {
        if (buckets.empty() || bytes >= o_.bucket_bytes || buckets.back().front().scalar_type() != g.scalar_type()) {
          buckets.emplace_back();
          bytes = 0;
        }
        buckets.back().push_back(g);
        bytes += static_cast<int64_t>(g.nbytes());
      }
      std::vector<torch::Tensor> flats;
      std::vector<c10::intrusive_ptr<c10d::Work>> works;
      for (const auto& bucket : buckets) {
        std::vector<torch::Tensor> flat{Flatten(bucket)};
        works.push_back(group_->allreduce(flat));
        flats.push_back(flat[0]);
      }
      for (size_t i = 0; i < buckets.size(); ++i) {
        works[i]->wait();
        flats[i].div_(o_.world_size);
        Unflatten(flats[i], buckets[i]);
      }
    });
  }

  void Broadcast(const std::vector<at::Tensor>& tensors) override {
    Checked("broadcast from rank 0", [&] {
      torch::NoGradGuard no_grad;
      std::map<torch::ScalarType, std::vector<torch::Tensor>> by_type;
      for (const auto& t : tensors) by_type[t.scalar_type()].push_back(t);
      c10d::BroadcastOptions options;
      options.rootRank = 0;
      options.timeout = Ms(o_.setup_timeout_s);
      for (auto& [type, group] : by_type) {
        std::vector<torch::Tensor> flat{Flatten(group)};
        group_->broadcast(flat, options)->wait();
        Unflatten(flat[0], group);
      }
    });
  }

  void AllReduceSum(std::vector<double>& values) override {
    Checked("all-reduce", [&] {
      std::vector<torch::Tensor> t{torch::from_blob(values.data(), {static_cast<int64_t>(values.size())}, torch::kFloat64).clone()};
      group_->allreduce(t)->wait();
      std::copy(t[0].data_ptr<double>(), t[0].data_ptr<double>() + values.size(), values.begin());
    });
  }

 private:
  static torch::Tensor Flatten(const std::vector<torch::Tensor>& tensors) {
    std::vector<torch::Tensor> flat;
    flat.reserve(tensors.size());
    for (const auto& t : tensors) flat.push_back(t.reshape({-1}));
    return torch::cat(flat);
  }

  static void Unflatten(const torch::Tensor& flat, const std::vector<torch::Tensor>& tensors) {
    int64_t offset = 0;
    for (const auto& t : tensors) {
      const_cast<torch::Tensor&>(t).copy_(flat.narrow(0, offset, t.numel()).view(t.sizes()));
      offset += t.numel();
    }
  }

  // A failed collective means a peer is gone or silent: say which one, so
  // the job's log names the rank that stopped, not only a socket error.
  template <typename F>
  void Checked(const char* what, F&& body) {
    try {
      body();
    } catch (const std::exception& e) {
      const std::string message = MessageOf(e);
      const std::string stopped = WhoStopped();
      throw std::runtime_error("rank " + std::to_string(o_.rank) + " of " + std::to_string(o_.world_size) + ": " +
                               what + " failed" + (stopped.empty() ? "" : ": " + stopped) + " (" + message + ")");
    }
  }

  c10::intrusive_ptr<c10d::TCPStore> Client(milliseconds timeout) const {
    c10d::TCPStoreOptions options;
    options.port = static_cast<uint16_t>(o_.master_port);
    options.waitWorkers = false;
    options.timeout = timeout;
    return c10::make_intrusive<c10d::TCPStore>(o_.master_addr, options);
  }

  // Each rank counts up a key in the store (its own connection, so the
  // group's never waits on it); a rank whose count stands still has stopped.
  void Beat() {
    try {
      auto client = Client(Ms(o_.connect_timeout_s));
      const std::string key = kBeatPrefix + std::to_string(o_.rank);
      std::unique_lock<std::mutex> lock(mutex_);
      while (!stopping_) {
        lock.unlock();
        client->add(key, 1);
        lock.lock();
        wake_.wait_for(lock, kBeatPeriod, [this] { return stopping_; });
      }
    } catch (const std::exception&) {
      // The store is gone (rank 0 stopped): WhoStopped() reports it.
    }
  }

  std::string WhoStopped() const {
    try {
      auto probe = Client(milliseconds(3000));
      auto read = [&] {
        std::vector<int64_t> counts;
        for (int r = 0; r < o_.world_size; ++r) counts.push_back(probe->add(kBeatPrefix + std::to_string(r), 0));
        return counts;
      };
      auto before = read();
      std::this_thread::sleep_for(kBeatWatch);
      auto after = read();
      std::string ranks;
      int count = 0;
      for (int r = 0; r < o_.world_size; ++r) {
        if (r == o_.rank || after[r] != before[r]) continue;
        ranks += (count++ ? ", " : "") + std::to_string(r);
      }
      if (count == 0) return "";
      return (count == 1 ? "rank " : "ranks ") + ranks + (count == 1 ? " has" : " have") + " stopped";
    } catch (const std::exception&) {
      return o_.rank == 0 ? "" : "rank 0 has stopped (the job's store, which it hosts, no longer answers)";
    }
  }

  const ProcessGroupOptions o_;
  c10::intrusive_ptr<c10d::TCPStore> store_;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread beat_;
};

}  // namespace

std::string DistributedAvailable() { return ""; }

std::shared_ptr<Collectives> JoinProcessGroup(const ProcessGroupOptions& options) {
  return std::make_shared<GlooCollectives>(options);
}

}  // namespace torchdog

#else  // no c10d Gloo in this build

#include <stdexcept>

namespace torchdog {

std::string DistributedAvailable() {
  return "this torchdog build has no distributed training: LibTorch's c10d Gloo headers or the gloo headers "
         "(Debian: libgloo-dev) were missing when the addon was built; install them and run "
         "'npm run build:native'";
}

std::shared_ptr<Collectives> JoinProcessGroup(const ProcessGroupOptions&) {
  throw std::runtime_error(DistributedAvailable());
}

}  // namespace torchdog

#endif
