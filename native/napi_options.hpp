// The one argument reader of the addon's N-API glue. Every exported function takes a single options object
// (src/accel/addon.ts declares each one's fields); Options reads its properties by name and remembers the
// first problem (a missing property, a wrong type, an array shorter than the sizes require), which Throw()
// raises as one TypeError naming the function and the property.
#pragma once
#include <node_api.h>
#include <cstddef>
#include <cstdint>
#include <string>

namespace napi {

/** a x b as a size_t, for array lengths. */
inline size_t Size(int64_t a, int64_t b = 1) { return static_cast<size_t>(a) * static_cast<size_t>(b); }

template <typename T> struct TypedArrayKind;
template <> struct TypedArrayKind<float> { static constexpr napi_typedarray_type kType = napi_float32_array; static constexpr const char* kName = "Float32Array"; };
template <> struct TypedArrayKind<double> { static constexpr napi_typedarray_type kType = napi_float64_array; static constexpr const char* kName = "Float64Array"; };
template <> struct TypedArrayKind<int32_t> { static constexpr napi_typedarray_type kType = napi_int32_array; static constexpr const char* kName = "Int32Array"; };
template <> struct TypedArrayKind<uint32_t> { static constexpr napi_typedarray_type kType = napi_uint32_array; static constexpr const char* kName = "Uint32Array"; };

class Options {
 public:
  Options(napi_env env, napi_callback_info info, const char* function) : env_(env), function_(function) {
    size_t argc = 1;
    napi_get_cb_info(env, info, &argc, &object_, nullptr, nullptr);
    napi_valuetype type = napi_undefined;
    if (argc >= 1) napi_typeof(env, object_, &type);
    if (type != napi_object) error_ = "expects one options object";
  }

  bool ok() const { return error_.empty(); }

  // Records a problem found by the caller (e.g. sizes that do not agree), unless an earlier one is recorded.
  void Require(bool condition, const char* message) {
    if (ok() && !condition) error_ = message;
  }

  // Each read is two Node-API calls on the way that succeeds (a property get and a conversion); the type is asked
  // for only to word an error. The reads are per kernel call, and every Node-API call costs tens of nanoseconds.
  int32_t Int(const char* key) {
    int32_t v = 0;
    napi_value p;
    if (Get(key, &p) && napi_get_value_int32(env_, p, &v) != napi_ok) Fail(key, p, "must be a number");
    return v;
  }

  double Number(const char* key) {
    double v = 0;
    napi_value p;
    if (Get(key, &p) && napi_get_value_double(env_, p, &v) != napi_ok) Fail(key, p, "must be a number");
    return v;
  }

  bool Bool(const char* key) {
    bool v = false;
    napi_value p;
    if (Get(key, &p) && napi_get_value_bool(env_, p, &v) != napi_ok) Fail(key, p, "must be a boolean");
    return v;
  }

  // A typed array of at least minLength elements; its length goes to *length when asked for.
  template <typename T>
  T* Array(const char* key, size_t minLength, size_t* length = nullptr) {
    return ReadArray<T>(key, minLength, length, false);
  }

  // The same, where null or undefined is allowed (returns nullptr, length 0).
  template <typename T>
  T* OptionalArray(const char* key, size_t minLength, size_t* length = nullptr) {
    return ReadArray<T>(key, minLength, length, true);
  }

  // Whether property `key` is a typed array of element type T (to accept either of two types).
  template <typename T>
  bool Is(const char* key) {
    napi_value p;
    napi_typedarray_type type;
    size_t length;
    void* data;
    return ok() && napi_get_named_property(env_, object_, key, &p) == napi_ok &&
           napi_get_typedarray_info(env_, p, &type, &length, &data, nullptr, nullptr) == napi_ok && type == TypedArrayKind<T>::kType;
  }

  napi_value Throw() {
    napi_throw_type_error(env_, nullptr, (std::string(function_) + ": " + error_).c_str());
    return nullptr;
  }

  napi_value Return(double value) {
    napi_value out;
    napi_create_double(env_, value, &out);
    return out;
  }

 private:
  bool Get(const char* key, napi_value* p) {
    if (!ok()) return false;
    if (napi_get_named_property(env_, object_, key, p) != napi_ok) {
      Fail(key, "cannot be read");
      return false;
    }
    return true;
  }

  bool IsNullish(napi_value p) {
    napi_valuetype type = napi_undefined;
    napi_typeof(env_, p, &type);
    return type == napi_null || type == napi_undefined;
  }

  // A wrong value: "is missing" when it is undefined, else `message`.
  void Fail(const char* key, napi_value p, const char* message) {
    napi_valuetype type = napi_undefined;
    napi_typeof(env_, p, &type);
    Fail(key, type == napi_undefined ? "is missing" : message);
  }

  template <typename T>
  T* ReadArray(const char* key, size_t minLength, size_t* length, bool optional) {
    if (length) *length = 0;
    napi_value p;
    if (!Get(key, &p)) return nullptr;
    napi_typedarray_type kind;
    size_t n = 0;
    void* data = nullptr;
    // napi_get_typedarray_info refuses anything that is not a typed array, so it is also the type check.
    if (napi_get_typedarray_info(env_, p, &kind, &n, &data, nullptr, nullptr) != napi_ok || kind != TypedArrayKind<T>::kType) {
      if (optional && IsNullish(p)) return nullptr;
      Fail(key, p, (std::string("must be a ") + TypedArrayKind<T>::kName).c_str());
      return nullptr;
    }
    if (n < minLength) {
      Fail(key, (std::string("has ") + std::to_string(n) + " elements, needs at least " + std::to_string(minLength)).c_str());
      return nullptr;
    }
    if (length) *length = n;
    return static_cast<T*>(data);
  }

  void Fail(const char* key, const char* message) {
    if (ok()) error_ = std::string(key) + " " + message;
  }

  napi_env env_;
  const char* function_;
  napi_value object_ = nullptr;
  std::string error_;
};

}  // namespace napi
