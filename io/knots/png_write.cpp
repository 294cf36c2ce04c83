// libpng reports errors through longjmp; the one non-obvious choice is to keep every object
// with a destructor out of the setjmp frame, so a failed write throws cleanly afterwards.
#include "io/knots/png_write.h"

#include <png.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "engine/error.h"

namespace knotnet::knots {

namespace {
// Returns an error text, or nullptr on success. No C++ objects with destructors live here.
const char* write_rows(FILE* f, const uint8_t* rgb, int width, int height) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  if (!png) return "cannot create a PNG writer";
  png_infop info = png_create_info_struct(png);
  if (!info) {
    png_destroy_write_struct(&png, nullptr);
    return "cannot create PNG info";
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return "libpng failed while writing";
  }
  png_init_io(png, f);
  png_set_IHDR(png, info, static_cast<png_uint_32>(width), static_cast<png_uint_32>(height), 8, PNG_COLOR_TYPE_RGB,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < height; ++y)
    png_write_row(png, const_cast<png_bytep>(rgb + static_cast<size_t>(y) * static_cast<size_t>(width) * 3));
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return nullptr;
}
}  // namespace

void write_png(const std::string& path, const uint8_t* rgb, int width, int height) {
  KN_CHECK(width > 0 && height > 0, "PNG size must be positive, got ", width, "x", height);
  FILE* f = std::fopen(path.c_str(), "wb");
  KN_CHECK(f, "cannot create PNG file ", path, ": ", std::strerror(errno));
  const char* err = write_rows(f, rgb, width, height);
  bool closed = std::fclose(f) == 0;
  KN_CHECK(!err, "cannot write PNG file ", path, ": ", err ? err : "");
  KN_CHECK(closed, "cannot finish PNG file ", path, ": ", std::strerror(errno));
}

}  // namespace knotnet::knots
