// Minimal N-API binding over libfaiss for podbrain's vector index.
//
// The faiss-node package has no way to set HNSW's efSearch or efConstruction, which
// decide recall and latency at corpus scale, and all its calls block the event loop, so
// the index code uses this small binding instead (faiss-node is not a dependency). Labels are
// the insertion positions (0..ntotal-1); the JS side maps them to chunks and tombstones
// removals.
//
// Every slow call has an *Async twin that runs on libuv's thread pool and returns a
// Promise, so searches never block the event loop and share one copy of the index
// (a worker_threads pool would need one copy per thread). faiss allows concurrent
// searches but not a search during add/train: the binding refuses that combination
// instead of corrupting memory.
#include <napi.h>

#include <faiss/Index.h>
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVF.h>
#include <faiss/impl/FaissException.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>
#include <omp.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace {

struct AddonData {
  Napi::FunctionReference ctor;
};

// Shared between the JS wrapper and in-flight async work, so an index dropped by JS while a
// search runs stays alive until that search ends.
struct IndexState {
  std::unique_ptr<faiss::Index> index;
  std::atomic<int> readers{0};
  std::atomic<bool> writer{false};
};

// Guards: many readers (search, write) or one writer (add, train), never both.
class ReadGuard {
 public:
  explicit ReadGuard(IndexState* s) : s_(s) { s_->readers++; ok_ = !s_->writer.load(); }
  ~ReadGuard() { s_->readers--; }
  bool ok() const { return ok_; }

 private:
  IndexState* s_;
  bool ok_;
};

class WriteGuard {
 public:
  explicit WriteGuard(IndexState* s) : s_(s) {
    bool expected = false;
    ok_ = s_->writer.compare_exchange_strong(expected, true) && s_->readers.load() == 0;
    if (!ok_ && !expected) s_->writer = false;
  }
  ~WriteGuard() {
    if (ok_) s_->writer = false;
  }
  bool ok() const { return ok_; }

 private:
  IndexState* s_;
  bool ok_;
};

const char* kBusy = "faiss: index is busy (a search and an add/train must not overlap)";

void SetThreads(int threads) { omp_set_num_threads(threads > 0 ? threads : omp_get_num_procs()); }

// Runs `work` on the thread pool; resolves with `result(env)` or rejects with the error text.
class PromiseWorker : public Napi::AsyncWorker {
 public:
  PromiseWorker(Napi::Env env, std::function<std::string()> work, std::function<Napi::Value(Napi::Env)> result,
                std::vector<Napi::Value> keepAlive)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), work_(std::move(work)),
        result_(std::move(result)) {
    for (auto& v : keepAlive) keep_.push_back(Napi::Persistent(v.As<Napi::Object>()));
  }

  Napi::Promise Promise() const { return deferred_.Promise(); }

  void Execute() override {
    try {
      std::string err = work_();
      if (!err.empty()) SetError(err);
    } catch (const std::exception& e) {
      SetError(std::string("faiss: ") + e.what());
    }
  }
  void OnOK() override { deferred_.Resolve(result_(Env())); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::function<std::string()> work_;
  std::function<Napi::Value(Napi::Env)> result_;
  std::vector<Napi::ObjectReference> keep_;
};

class VectorIndex : public Napi::ObjectWrap<VectorIndex> {
 public:
  static Napi::Object Init(Napi::Env env, Napi::Object exports) {
    Napi::Function fn = DefineClass(env, "NativeIndex", {
      StaticMethod("create", &VectorIndex::Create),
      StaticMethod("read", &VectorIndex::Read),
      StaticMethod("readAsync", &VectorIndex::ReadAsync),
      InstanceMethod("ntotal", &VectorIndex::NTotal),
      InstanceMethod("dim", &VectorIndex::Dim),
      InstanceMethod("isTrained", &VectorIndex::IsTrained),
      InstanceMethod("train", &VectorIndex::Train),
      InstanceMethod("trainAsync", &VectorIndex::TrainAsync),
      InstanceMethod("add", &VectorIndex::Add),
      InstanceMethod("addAsync", &VectorIndex::AddAsync),
      InstanceMethod("search", &VectorIndex::Search),
      InstanceMethod("searchAsync", &VectorIndex::SearchAsync),
      InstanceMethod("setParam", &VectorIndex::SetParam),
      InstanceMethod("write", &VectorIndex::Write),
      InstanceMethod("writeAsync", &VectorIndex::WriteAsync),
    });
    auto* data = new AddonData();
    data->ctor = Napi::Persistent(fn);
    env.SetInstanceData<AddonData>(data);
    exports.Set("NativeIndex", fn);
    return exports;
  }

  explicit VectorIndex(const Napi::CallbackInfo& info) : Napi::ObjectWrap<VectorIndex>(info) {}

 private:
  std::shared_ptr<IndexState> state_ = std::make_shared<IndexState>();

  static Napi::Object Wrap(Napi::Env env, faiss::Index* raw) {
    Napi::Object obj = env.GetInstanceData<AddonData>()->ctor.New({});
    Unwrap(obj)->state_->index.reset(raw);
    return obj;
  }

  faiss::Index* Ready(Napi::Env env) {
    if (!state_->index) Napi::Error::New(env, "index not initialised").ThrowAsJavaScriptException();
    return state_->index.get();
  }

  static void Throw(Napi::Env env, const std::string& msg) { Napi::Error::New(env, msg).ThrowAsJavaScriptException(); }

  // create(dim, factoryString, metric: 'ip' | 'l2')
  static Napi::Value Create(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsString() || !info[2].IsString()) {
      Napi::TypeError::New(env, "create(dim, factory, metric)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    int dim = info[0].As<Napi::Number>().Int32Value();
    std::string factory = info[1].As<Napi::String>().Utf8Value();
    std::string metric = info[2].As<Napi::String>().Utf8Value();
    try {
      faiss::MetricType m = metric == "l2" ? faiss::METRIC_L2 : faiss::METRIC_INNER_PRODUCT;
      return Wrap(env, faiss::index_factory(dim, factory.c_str(), m));
    } catch (const std::exception& e) {
      Throw(env, std::string("faiss: ") + e.what());
      return env.Undefined();
    }
  }

  static bool PathArg(const Napi::CallbackInfo& info, const char* usage, std::string* path) {
    if (info.Length() < 1 || !info[0].IsString()) {
      Napi::TypeError::New(info.Env(), usage).ThrowAsJavaScriptException();
      return false;
    }
    *path = info[0].As<Napi::String>().Utf8Value();
    return true;
  }

  static Napi::Value Read(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string path;
    if (!PathArg(info, "read(path)", &path)) return env.Undefined();
    try {
      return Wrap(env, faiss::read_index(path.c_str()));
    } catch (const std::exception& e) {
      Throw(env, std::string("faiss: ") + e.what());
      return env.Undefined();
    }
  }

  static Napi::Value ReadAsync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string path;
    if (!PathArg(info, "readAsync(path)", &path)) return env.Undefined();
    auto loaded = std::make_shared<std::unique_ptr<faiss::Index>>();
    auto* w = new PromiseWorker(
        env,
        [path, loaded]() {
          loaded->reset(faiss::read_index(path.c_str()));
          return std::string();
        },
        [loaded](Napi::Env e) -> Napi::Value { return Wrap(e, loaded->release()); }, {});
    w->Queue();
    return w->Promise();
  }

  Napi::Value NTotal(const Napi::CallbackInfo& info) {
    auto* idx = Ready(info.Env());
    if (!idx) return info.Env().Undefined();
    return Napi::Number::New(info.Env(), static_cast<double>(idx->ntotal));
  }

  Napi::Value Dim(const Napi::CallbackInfo& info) {
    auto* idx = Ready(info.Env());
    if (!idx) return info.Env().Undefined();
    return Napi::Number::New(info.Env(), idx->d);
  }

  Napi::Value IsTrained(const Napi::CallbackInfo& info) {
    auto* idx = Ready(info.Env());
    if (!idx) return info.Env().Undefined();
    return Napi::Boolean::New(info.Env(), idx->is_trained);
  }

  // Float32Array of n*dim values.
  bool Vectors(const Napi::CallbackInfo& info, size_t arg, const float** data, int64_t* n) {
    Napi::Env env = info.Env();
    auto* idx = Ready(env);
    if (!idx) return false;
    if (info.Length() <= arg || !info[arg].IsTypedArray() ||
        info[arg].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
      Napi::TypeError::New(env, "expected a Float32Array").ThrowAsJavaScriptException();
      return false;
    }
    auto arr = info[arg].As<Napi::Float32Array>();
    if (arr.ElementLength() % idx->d != 0) {
      Throw(env, "vector data length " + std::to_string(arr.ElementLength()) + " is not a multiple of the dimension " +
                     std::to_string(idx->d));
      return false;
    }
    *data = arr.Data();
    *n = static_cast<int64_t>(arr.ElementLength() / idx->d);
    return true;
  }

  static int ThreadsArg(const Napi::CallbackInfo& info, size_t arg, int fallback) {
    if (info.Length() > arg && info[arg].IsNumber()) return info[arg].As<Napi::Number>().Int32Value();
    return fallback;
  }

  // Mutations: train/add. Sync versions block the caller; async ones run on the pool.
  Napi::Value Mutate(const Napi::CallbackInfo& info, bool async, bool train) {
    Napi::Env env = info.Env();
    const float* x;
    int64_t n;
    if (!Vectors(info, 0, &x, &n)) return env.Undefined();
    int threads = ThreadsArg(info, 1, 0);
    auto state = state_;
    auto work = [state, x, n, threads, train]() -> std::string {
      WriteGuard g(state.get());
      if (!g.ok()) return kBusy;
      SetThreads(threads);
      if (train) state->index->train(n, x);
      else state->index->add(n, x);
      return std::string();
    };
    if (!async) {
      try {
        std::string err = work();
        if (!err.empty()) Throw(env, err);
      } catch (const std::exception& e) {
        Throw(env, std::string("faiss: ") + e.what());
      }
      return env.Undefined();
    }
    auto* w = new PromiseWorker(env, work, [](Napi::Env e) -> Napi::Value { return e.Undefined(); }, {info.This(), info[0]});
    w->Queue();
    return w->Promise();
  }

  Napi::Value Train(const Napi::CallbackInfo& info) { return Mutate(info, false, true); }
  Napi::Value TrainAsync(const Napi::CallbackInfo& info) { return Mutate(info, true, true); }
  Napi::Value Add(const Napi::CallbackInfo& info) { return Mutate(info, false, false); }
  Napi::Value AddAsync(const Napi::CallbackInfo& info) { return Mutate(info, true, false); }

  struct SearchResult {
    std::vector<faiss::Index::idx_t> labels;
    std::vector<float> distances;
  };

  static Napi::Value ResultObject(Napi::Env env, const SearchResult& r) {
    auto labels = Napi::Float64Array::New(env, r.labels.size());
    for (size_t i = 0; i < r.labels.size(); i++) labels[i] = static_cast<double>(r.labels[i]);
    auto distances = Napi::Float32Array::New(env, r.distances.size());
    std::copy(r.distances.begin(), r.distances.end(), distances.Data());
    Napi::Object out = Napi::Object::New(env);
    out.Set("labels", labels);
    out.Set("distances", distances);
    return out;
  }

  // search(queries: Float32Array (nq*dim), k, threads = 1) -> { labels: Float64Array, distances: Float32Array }
  Napi::Value SearchImpl(const Napi::CallbackInfo& info, bool async) {
    Napi::Env env = info.Env();
    const float* x;
    int64_t nq;
    if (!Vectors(info, 0, &x, &nq)) return env.Undefined();
    if (info.Length() < 2 || !info[1].IsNumber()) {
      Napi::TypeError::New(env, "search(queries, k, threads?)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    int64_t k = info[1].As<Napi::Number>().Int64Value();
    if (k < 1) k = 1;
    // One OpenMP thread per search by default: concurrent searches already fill the pool,
    // and an OpenMP team per libuv thread would oversubscribe the cores.
    int threads = ThreadsArg(info, 2, 1);
    auto state = state_;
    auto result = std::make_shared<SearchResult>();
    auto work = [state, x, nq, k, threads, result]() -> std::string {
      ReadGuard g(state.get());
      if (!g.ok()) return kBusy;
      SetThreads(threads);
      result->labels.resize(nq * k);
      result->distances.resize(nq * k);
      state->index->search(nq, x, k, result->distances.data(), result->labels.data());
      return std::string();
    };
    if (!async) {
      try {
        std::string err = work();
        if (!err.empty()) {
          Throw(env, err);
          return env.Undefined();
        }
      } catch (const std::exception& e) {
        Throw(env, std::string("faiss: ") + e.what());
        return env.Undefined();
      }
      return ResultObject(env, *result);
    }
    auto* w = new PromiseWorker(env, work, [result](Napi::Env e) { return ResultObject(e, *result); }, {info.This(), info[0]});
    w->Queue();
    return w->Promise();
  }

  Napi::Value Search(const Napi::CallbackInfo& info) { return SearchImpl(info, false); }
  Napi::Value SearchAsync(const Napi::CallbackInfo& info) { return SearchImpl(info, true); }

  // setParam('efSearch' | 'efConstruction' | 'nprobe', value) -> whether the index has it
  Napi::Value SetParam(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto* idx = Ready(env);
    if (!idx) return env.Undefined();
    if (info.Length() < 2 || !info[0].IsString() || !info[1].IsNumber()) {
      Napi::TypeError::New(env, "setParam(name, value)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    std::string name = info[0].As<Napi::String>().Utf8Value();
    int value = info[1].As<Napi::Number>().Int32Value();
    if (auto* hnsw = dynamic_cast<faiss::IndexHNSW*>(idx)) {
      if (name == "efSearch") { hnsw->hnsw.efSearch = value; return Napi::Boolean::New(env, true); }
      if (name == "efConstruction") { hnsw->hnsw.efConstruction = value; return Napi::Boolean::New(env, true); }
    }
    if (auto* ivf = dynamic_cast<faiss::IndexIVF*>(idx)) {
      if (name == "nprobe") { ivf->nprobe = value; return Napi::Boolean::New(env, true); }
    }
    return Napi::Boolean::New(env, false);
  }

  Napi::Value WriteImpl(const Napi::CallbackInfo& info, bool async) {
    Napi::Env env = info.Env();
    if (!Ready(env)) return env.Undefined();
    std::string path;
    if (!PathArg(info, "write(path)", &path)) return env.Undefined();
    auto state = state_;
    auto work = [state, path]() -> std::string {
      ReadGuard g(state.get());
      if (!g.ok()) return kBusy;
      faiss::write_index(state->index.get(), path.c_str());
      return std::string();
    };
    if (!async) {
      try {
        std::string err = work();
        if (!err.empty()) Throw(env, err);
      } catch (const std::exception& e) {
        Throw(env, std::string("faiss: ") + e.what());
      }
      return env.Undefined();
    }
    auto* w = new PromiseWorker(env, work, [](Napi::Env e) -> Napi::Value { return e.Undefined(); }, {info.This()});
    w->Queue();
    return w->Promise();
  }

  Napi::Value Write(const Napi::CallbackInfo& info) { return WriteImpl(info, false); }
  Napi::Value WriteAsync(const Napi::CallbackInfo& info) { return WriteImpl(info, true); }
};

Napi::Object Init(Napi::Env env, Napi::Object exports) { return VectorIndex::Init(env, exports); }

}  // namespace

NODE_API_MODULE(podbrain_faiss, Init)
