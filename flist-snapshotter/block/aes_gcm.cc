#include "flist-snapshotter/block/aes_gcm.h"

#include <openssl/evp.h>

#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"

namespace flint::flist {
namespace {

constexpr int kTagSize = 16;

struct CtxDeleter {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using CtxPtr = std::unique_ptr<EVP_CIPHER_CTX, CtxDeleter>;

const unsigned char* U(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

absl::Status CheckParams(std::string_view key, std::string_view nonce) {
  if (key.size() != 32) return absl::InvalidArgumentError(absl::StrCat("aes-gcm: key must be 32 bytes, got ", key.size()));
  if (nonce.size() != 12) return absl::InvalidArgumentError("aes-gcm: nonce must be 12 bytes");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> AesGcmSeal(std::string_view key, std::string_view nonce,
                                       std::string_view plain) {
  if (auto s = CheckParams(key, nonce); !s.ok()) return s;
  CtxPtr ctx(EVP_CIPHER_CTX_new());
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, U(key), U(nonce)) != 1) {
    return absl::InternalError("aes-gcm: encrypt init failed");
  }
  std::string out(plain.size() + kTagSize, '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  int len = 0;
  if (!plain.empty() &&
      EVP_EncryptUpdate(ctx.get(), o, &len, U(plain), static_cast<int>(plain.size())) != 1) {
    return absl::InternalError("aes-gcm: encrypt failed");
  }
  int fin = 0;
  if (EVP_EncryptFinal_ex(ctx.get(), o + len, &fin) != 1) return absl::InternalError("aes-gcm: encrypt final failed");
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagSize, o + len + fin) != 1) {
    return absl::InternalError("aes-gcm: get tag failed");
  }
  out.resize(static_cast<size_t>(len + fin) + kTagSize);
  return out;
}

absl::StatusOr<std::string> AesGcmOpen(std::string_view key, std::string_view nonce, std::string sealed) {
  if (auto s = CheckParams(key, nonce); !s.ok()) return s;
  if (sealed.size() < kTagSize) return absl::DataLossError("aes-gcm: ciphertext shorter than the tag");
  const size_t ct_len = sealed.size() - kTagSize;
  CtxPtr ctx(EVP_CIPHER_CTX_new());
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, U(key), U(nonce)) != 1) {
    return absl::InternalError("aes-gcm: decrypt init failed");
  }
  unsigned char tag[kTagSize];
  std::memcpy(tag, sealed.data() + ct_len, kTagSize);
  auto* text = reinterpret_cast<unsigned char*>(sealed.data());
  int len = 0;
  // GCM is a stream mode: OpenSSL decrypts with the output on the input.
  if (ct_len > 0 && EVP_DecryptUpdate(ctx.get(), text, &len, text, static_cast<int>(ct_len)) != 1) {
    return absl::DataLossError("aes-gcm: decrypt failed");
  }
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagSize, tag) != 1) {
    return absl::InternalError("aes-gcm: set tag failed");
  }
  int fin = 0;
  if (EVP_DecryptFinal_ex(ctx.get(), text + len, &fin) != 1) {
    return absl::DataLossError("aes-gcm: authentication failed (wrong key or corrupt block)");
  }
  sealed.resize(static_cast<size_t>(len + fin));
  return sealed;
}

}  // namespace flint::flist
