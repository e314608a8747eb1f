// Minimal N-API binding over libfaiss for podbrain's vector index.
//
// faiss-node (built alongside, unchanged) has no way to set HNSW's efSearch or
// efConstruction, which decide recall and latency at corpus scale, so the index
// code uses this small binding instead. Labels are the insertion positions
// (0..ntotal-1); the JS side maps them to chunk ids and tombstones removals.
#include <napi.h>

#include <faiss/Index.h>
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVF.h>
#include <faiss/impl/FaissException.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>

#include <memory>
#include <string>
#include <vector>

namespace {

class VectorIndex : public Napi::ObjectWrap<VectorIndex> {
 public:
  static Napi::FunctionReference* ctor;

  static Napi::Object Init(Napi::Env env, Napi::Object exports) {
    Napi::Function fn = DefineClass(env, "NativeIndex", {
      StaticMethod("create", &VectorIndex::Create),
      StaticMethod("read", &VectorIndex::Read),
      InstanceMethod("ntotal", &VectorIndex::NTotal),
      InstanceMethod("dim", &VectorIndex::Dim),
      InstanceMethod("isTrained", &VectorIndex::IsTrained),
      InstanceMethod("train", &VectorIndex::Train),
      InstanceMethod("add", &VectorIndex::Add),
      InstanceMethod("search", &VectorIndex::Search),
      InstanceMethod("setParam", &VectorIndex::SetParam),
      InstanceMethod("write", &VectorIndex::Write),
    });
    ctor = new Napi::FunctionReference(Napi::Persistent(fn));
    exports.Set("NativeIndex", fn);
    return exports;
  }

  explicit VectorIndex(const Napi::CallbackInfo& info) : Napi::ObjectWrap<VectorIndex>(info) {}

 private:
  std::unique_ptr<faiss::Index> index_;

  static Napi::Value Wrap(Napi::Env env, faiss::Index* raw) {
    Napi::Object obj = ctor->New({});
    Unwrap(obj)->index_.reset(raw);
    return obj;
  }

  bool Ready(Napi::Env env) {
    if (!index_) Napi::Error::New(env, "index not initialised").ThrowAsJavaScriptException();
    return index_ != nullptr;
  }

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
      Napi::Error::New(env, std::string("faiss: ") + e.what()).ThrowAsJavaScriptException();
      return env.Undefined();
    }
  }

  static Napi::Value Read(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsString()) {
      Napi::TypeError::New(env, "read(path)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    std::string path = info[0].As<Napi::String>().Utf8Value();
    try {
      return Wrap(env, faiss::read_index(path.c_str()));
    } catch (const std::exception& e) {
      Napi::Error::New(env, std::string("faiss: ") + e.what()).ThrowAsJavaScriptException();
      return env.Undefined();
    }
  }

  Napi::Value NTotal(const Napi::CallbackInfo& info) {
    if (!Ready(info.Env())) return info.Env().Undefined();
    return Napi::Number::New(info.Env(), static_cast<double>(index_->ntotal));
  }

  Napi::Value Dim(const Napi::CallbackInfo& info) {
    if (!Ready(info.Env())) return info.Env().Undefined();
    return Napi::Number::New(info.Env(), index_->d);
  }

  Napi::Value IsTrained(const Napi::CallbackInfo& info) {
    if (!Ready(info.Env())) return info.Env().Undefined();
    return Napi::Boolean::New(info.Env(), index_->is_trained);
  }

  // Float32Array of n*dim values.
  bool Vectors(const Napi::CallbackInfo& info, size_t arg, const float** data, int64_t* n) {
    Napi::Env env = info.Env();
    if (info.Length() <= arg || !info[arg].IsTypedArray() ||
        info[arg].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
      Napi::TypeError::New(env, "expected a Float32Array").ThrowAsJavaScriptException();
      return false;
    }
    auto arr = info[arg].As<Napi::Float32Array>();
    if (arr.ElementLength() % index_->d != 0) {
      Napi::Error::New(env, "vector data length " + std::to_string(arr.ElementLength()) +
                                " is not a multiple of the dimension " + std::to_string(index_->d))
          .ThrowAsJavaScriptException();
      return false;
    }
    *data = arr.Data();
    *n = static_cast<int64_t>(arr.ElementLength() / index_->d);
    return true;
  }

  Napi::Value Train(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const float* x;
    int64_t n;
    if (!Ready(env) || !Vectors(info, 0, &x, &n)) return env.Undefined();
    try {
      index_->train(n, x);
    } catch (const std::exception& e) {
      Napi::Error::New(env, std::string("faiss: ") + e.what()).ThrowAsJavaScriptException();
    }
    return env.Undefined();
  }

  Napi::Value Add(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const float* x;
    int64_t n;
    if (!Ready(env) || !Vectors(info, 0, &x, &n)) return env.Undefined();
    try {
      index_->add(n, x);
    } catch (const std::exception& e) {
      Napi::Error::New(env, std::string("faiss: ") + e.what()).ThrowAsJavaScriptException();
    }
    return env.Undefined();
  }

  // search(queries: Float32Array (nq*dim), k) -> { labels: Float64Array, distances: Float32Array }
  Napi::Value Search(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const float* x;
    int64_t nq;
    if (!Ready(env) || !Vectors(info, 0, &x, &nq)) return env.Undefined();
    if (info.Length() < 2 || !info[1].IsNumber()) {
      Napi::TypeError::New(env, "search(queries, k)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    int64_t k = info[1].As<Napi::Number>().Int64Value();
    if (k < 1) k = 1;
    std::vector<faiss::Index::idx_t> labels(nq * k);
    auto distances = Napi::Float32Array::New(env, nq * k);
    try {
      index_->search(nq, x, k, distances.Data(), labels.data());
    } catch (const std::exception& e) {
      Napi::Error::New(env, std::string("faiss: ") + e.what()).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    auto outLabels = Napi::Float64Array::New(env, nq * k);
    for (size_t i = 0; i < labels.size(); i++) outLabels[i] = static_cast<double>(labels[i]);
    Napi::Object out = Napi::Object::New(env);
    out.Set("labels", outLabels);
    out.Set("distances", distances);
    return out;
  }

  // setParam('efSearch' | 'efConstruction' | 'nprobe', value) -> whether the index has it
  Napi::Value SetParam(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Ready(env)) return env.Undefined();
    if (info.Length() < 2 || !info[0].IsString() || !info[1].IsNumber()) {
      Napi::TypeError::New(env, "setParam(name, value)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    std::string name = info[0].As<Napi::String>().Utf8Value();
    int value = info[1].As<Napi::Number>().Int32Value();
    if (auto* hnsw = dynamic_cast<faiss::IndexHNSW*>(index_.get())) {
      if (name == "efSearch") { hnsw->hnsw.efSearch = value; return Napi::Boolean::New(env, true); }
      if (name == "efConstruction") { hnsw->hnsw.efConstruction = value; return Napi::Boolean::New(env, true); }
    }
    if (auto* ivf = dynamic_cast<faiss::IndexIVF*>(index_.get())) {
      if (name == "nprobe") { ivf->nprobe = value; return Napi::Boolean::New(env, true); }
    }
    return Napi::Boolean::New(env, false);
  }

  Napi::Value Write(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Ready(env)) return env.Undefined();
    if (info.Length() < 1 || !info[0].IsString()) {
      Napi::TypeError::New(env, "write(path)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    std::string path = info[0].As<Napi::String>().Utf8Value();
    try {
      faiss::write_index(index_.get(), path.c_str());
    } catch (const std::exception& e) {
      Napi::Error::New(env, std::string("faiss: ") + e.what()).ThrowAsJavaScriptException();
    }
    return env.Undefined();
  }
};

Napi::FunctionReference* VectorIndex::ctor = nullptr;

Napi::Object Init(Napi::Env env, Napi::Object exports) { return VectorIndex::Init(env, exports); }

}  // namespace

NODE_API_MODULE(podbrain_faiss, Init)
