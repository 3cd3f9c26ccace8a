/*
 * wofpack: test oracle built on wimlib's XPRESS and LZX codecs (libwim-dev). Compiled at test
 * time into the image cache (see scripts/images/wof.ts). Never part of diskpick.
 *
 *   wofpack pack ALGO IN OUT
 *       Writes IN compressed the way WOF stores a file's WofCompressedData stream: a table of
 *       (chunks - 1) chunk offsets (4 bytes, 8 when the file is 4 GiB or more), relative to
 *       the end of the table, then the chunks. A chunk that does not shrink is stored raw.
 *       ALGO: xpress4k | xpress8k | xpress16k | lzx (32 KiB chunks).
 *   wofpack compress xpress|lzx CHUNKSIZE LEVEL IN OUT
 *       Compresses IN (at most CHUNKSIZE bytes) as one chunk; exit 3 when it does not shrink.
 *   wofpack decompress xpress|lzx CHUNKSIZE OUTSIZE IN OUT
 *       Decompresses one chunk with wimlib's decompressor; exit 4 when wimlib rejects it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wimlib.h>

static unsigned char *slurp(const char *path, size_t *size) {
	FILE *f = fopen(path, "rb");
	if (!f) { perror(path); exit(2); }
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	unsigned char *buf = malloc(n ? n : 1);
	if (n && fread(buf, 1, n, f) != (size_t)n) { perror(path); exit(2); }
	fclose(f);
	*size = n;
	return buf;
}

static void spit(const char *path, const void *data, size_t size) {
	FILE *f = fopen(path, "wb");
	if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f)) { perror(path); exit(2); }
}

static enum wimlib_compression_type ctype_of(const char *s) {
	if (!strncmp(s, "xpress", 6)) return WIMLIB_COMPRESSION_TYPE_XPRESS;
	if (!strcmp(s, "lzx")) return WIMLIB_COMPRESSION_TYPE_LZX;
	fprintf(stderr, "unknown algorithm %s\n", s);
	exit(2);
}

static size_t chunk_size_of(const char *s) {
	if (!strcmp(s, "xpress4k")) return 4096;
	if (!strcmp(s, "xpress8k")) return 8192;
	if (!strcmp(s, "xpress16k")) return 16384;
	if (!strcmp(s, "lzx")) return 32768;
	fprintf(stderr, "unknown WOF algorithm %s\n", s);
	exit(2);
}

int main(int argc, char **argv) {
	if (argc == 5 && !strcmp(argv[1], "pack")) {
		size_t chunk = chunk_size_of(argv[2]);
		size_t size;
		unsigned char *in = slurp(argv[3], &size);
		struct wimlib_compressor *c;
		if (wimlib_create_compressor(ctype_of(argv[2]), chunk, 0, &c)) { fprintf(stderr, "no compressor\n"); return 2; }
		size_t nchunks = (size + chunk - 1) / chunk;
		size_t entry = (uint64_t)size > 0xFFFFFFFFull ? 8 : 4;
		size_t table = nchunks ? (nchunks - 1) * entry : 0;
		unsigned char *out = malloc(table + size + 1);
		unsigned char *tmp = malloc(chunk);
		size_t at = 0;
		for (size_t i = 0; i < nchunks; i++) {
			size_t n = size - i * chunk < chunk ? size - i * chunk : chunk;
			if (i > 0) {
				uint64_t off = at;
				memcpy(out + (i - 1) * entry, &off, entry); /* little-endian host */
			}
			size_t csize = wimlib_compress(in + i * chunk, n, tmp, n - 1, c);
			if (csize == 0) { memcpy(out + table + at, in + i * chunk, n); at += n; }
			else { memcpy(out + table + at, tmp, csize); at += csize; }
		}
		spit(argv[4], out, table + at);
		wimlib_free_compressor(c);
		return 0;
	}
	if (argc == 7 && !strcmp(argv[1], "compress")) {
		size_t chunk = strtoul(argv[3], 0, 0);
		size_t size;
		unsigned char *in = slurp(argv[5], &size);
		struct wimlib_compressor *c;
		if (size > chunk || wimlib_create_compressor(ctype_of(argv[2]), chunk, atoi(argv[4]), &c)) { fprintf(stderr, "bad arguments\n"); return 2; }
		unsigned char *tmp = malloc(chunk);
		size_t csize = size > 1 ? wimlib_compress(in, size, tmp, size - 1, c) : 0;
		if (csize == 0) return 3;
		spit(argv[6], tmp, csize);
		return 0;
	}
	if (argc == 7 && !strcmp(argv[1], "decompress")) {
		size_t chunk = strtoul(argv[3], 0, 0);
		size_t outsize = strtoul(argv[4], 0, 0);
		size_t size;
		unsigned char *in = slurp(argv[5], &size);
		struct wimlib_decompressor *d;
		if (outsize > chunk || wimlib_create_decompressor(ctype_of(argv[2]), chunk, &d)) { fprintf(stderr, "bad arguments\n"); return 2; }
		unsigned char *out = malloc(outsize ? outsize : 1);
		if (wimlib_decompress(in, size, out, outsize, d)) return 4;
		spit(argv[6], out, outsize);
		return 0;
	}
	fprintf(stderr, "usage: wofpack pack ALGO IN OUT | compress ALGO CHUNK LEVEL IN OUT | decompress ALGO CHUNK OUTSIZE IN OUT\n");
	return 2;
}
