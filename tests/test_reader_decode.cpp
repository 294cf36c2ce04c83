// The direct chunk decoder: HDF5's shuffle and deflate undone by hand, the chunk's filter mask
// honoured, and damaged bytes reported rather than passed on.
#include <gtest/gtest.h>

#include <hdf5.h>

#include <random>
#include <string>
#include <vector>

#include "engine/error.h"
#include "io/chunk_decoder.h"
#include "io/chunk_reader.h"

using namespace knotnet;

namespace {

std::vector<uint8_t> random_bytes(size_t n, uint64_t seed, int distinct = 256) {
  std::mt19937_64 rng(seed);
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = static_cast<uint8_t>(rng() % static_cast<uint64_t>(distinct));
  return v;
}

std::vector<ChunkFilter> pipeline(bool shuffle, bool deflate, size_t elem) {
  std::vector<ChunkFilter> f;
  if (shuffle) f.push_back({H5Z_FILTER_SHUFFLE, "shuffle", {static_cast<unsigned>(elem)}});
  if (deflate) f.push_back({H5Z_FILTER_DEFLATE, "deflate", {4}});
  return f;
}

std::string decode_error(const std::vector<uint8_t>& stored, uint32_t mask, const std::vector<ChunkFilter>& f,
                         size_t out_size) {
  std::vector<uint8_t> out(out_size), scratch;
  try {
    decode_chunk(stored.data(), stored.size(), mask, f, 4, out.data(), out.size(), scratch);
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

TEST(ReaderDecode, ShuffleRoundTripsWithTrailingBytes) {
  for (size_t elem : {1u, 2u, 4u, 8u})
    for (size_t size : {0u, 3u, 64u, 1001u}) {
      auto in = random_bytes(size, 10 + size + elem);
      std::vector<uint8_t> mid(size), back(size);
      shuffle_bytes(in.data(), mid.data(), size, elem);
      unshuffle_bytes(mid.data(), back.data(), size, elem);
      EXPECT_EQ(back, in) << "elem " << elem << " size " << size;
      if (elem == 4 && size == 64) {
        EXPECT_EQ(mid[0], in[0]);
        EXPECT_EQ(mid[1], in[4]);   // byte 0 of element 1
        EXPECT_EQ(mid[16], in[1]);  // byte 1 of element 0
      }
    }
}

TEST(ReaderDecode, ShuffleThenDeflateIsUndone) {
  const size_t size = 4 * 1000 + 2;
  auto raw = random_bytes(size, 7, 4);  // compressible
  std::vector<uint8_t> shuffled(size);
  shuffle_bytes(raw.data(), shuffled.data(), size, 4);
  auto stored = deflate_bytes(shuffled.data(), size, 4);
  ASSERT_LT(stored.size(), size);
  std::vector<uint8_t> out(size), scratch;
  decode_chunk(stored.data(), stored.size(), 0, pipeline(true, true, 4), 4, out.data(), size, scratch);
  EXPECT_EQ(out, raw);
}

TEST(ReaderDecode, MaskedFiltersAreSkipped) {
  // HDF5 stores a chunk uncompressed, with bit 1 of the mask set, when deflate cannot shrink it.
  const size_t size = 400;
  auto raw = random_bytes(size, 8);
  std::vector<uint8_t> shuffled(size);
  shuffle_bytes(raw.data(), shuffled.data(), size, 4);
  std::vector<uint8_t> out(size), scratch;
  decode_chunk(shuffled.data(), size, 0b10, pipeline(true, true, 4), 4, out.data(), size, scratch);
  EXPECT_EQ(out, raw);
  decode_chunk(raw.data(), size, 0b11, pipeline(true, true, 4), 4, out.data(), size, scratch);
  EXPECT_EQ(out, raw);
}

TEST(ReaderDecode, DamagedStreamsAreErrors) {
  const size_t size = 4000;
  auto raw = random_bytes(size, 9, 3);
  auto stored = deflate_bytes(raw.data(), size, 6);
  auto f = pipeline(false, true, 4);

  auto damaged = stored;
  for (size_t i = damaged.size() / 3; i < damaged.size() / 3 + 8; ++i) damaged[i] ^= 0xA5;
  std::string msg = decode_error(damaged, 0, f, size);
  EXPECT_NE(msg.find("corrupt chunk"), std::string::npos) << msg;

  auto cut = std::vector<uint8_t>(stored.begin(), stored.begin() + static_cast<long>(stored.size() / 2));
  msg = decode_error(cut, 0, f, size);
  EXPECT_NE(msg.find("ends early"), std::string::npos) << msg;

  msg = decode_error(stored, 0, f, size - 1);
  EXPECT_NE(msg.find("more than the expected"), std::string::npos) << msg;

  msg = decode_error(stored, 0, f, size + 100);
  EXPECT_NE(msg.find("corrupt chunk"), std::string::npos) << msg;

  msg = decode_error(raw, 0b1, f, size + 1);  // unfiltered but the wrong size
  EXPECT_NE(msg.find("holds 4000 bytes, expected 4001"), std::string::npos) << msg;
}

TEST(ReaderDecode, FloatPixelsRoundAndClamp) {
  const float in[] = {0.0f, 1.0f / 255, 0.5f, 1.0f, 1.2f, -0.1f, std::nanf("")};
  uint8_t out[7];
  floats_to_bytes(in, out, 7, 255.0f);
  EXPECT_EQ(out[0], 0);
  EXPECT_EQ(out[1], 1);
  EXPECT_EQ(out[2], 128);  // 127.5 rounds up
  EXPECT_EQ(out[3], 255);
  EXPECT_EQ(out[4], 255);
  EXPECT_EQ(out[5], 0);
  EXPECT_EQ(out[6], 0);
}

}  // namespace
