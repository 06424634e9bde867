/* Replays saved fuzz inputs through LLVMFuzzerTestOneInput without libFuzzer, so the seed
   corpus and every regression input run under any compiler (and its sanitizers) in CI.
   Usage: replay FILE_OR_DIR...      run each input (a file, every file of a directory, or
                                     every line of a *.hex file: one hex-encoded input per
                                     line, '#' lines are comments)
          replay -unpack X.hex DIR   write each input of X.hex to DIR/seed-NNNN (for libFuzzer)
   Exit status 0 when all inputs ran; a failed oracle aborts. */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

static int replay_file(const char* path) {
    FILE* f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return 1;
    }
    uint8_t* buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 4096;
            uint8_t* grown = realloc(buf, cap);
            if (grown == NULL) {
                free(buf);
                fclose(f);
                return 1;
            }
            buf = grown;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(buf, len);
    free(buf);
    return 0;
}

static int hex_value(int ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* Runs (or, with unpack_dir, writes out) every input of a .hex file; counts them in *count. */
static int replay_hex(const char* path, const char* unpack_dir, int* count) {
    FILE* f = fopen(path, "r");
    if (f == NULL) {
        perror(path);
        return 1;
    }
    char line[1 << 16];
    uint8_t buf[sizeof line / 2];
    int lineno = 0, failed = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        lineno++;
        if (line[0] == '#') continue;
        size_t len = strcspn(line, "\r\n"), n = 0;
        if (len % 2) goto bad;
        for (size_t i = 0; i < len; i += 2) {
            int hi = hex_value(line[i]), lo = hex_value(line[i + 1]);
            if (hi < 0 || lo < 0) goto bad;
            buf[n++] = (uint8_t)(hi * 16 + lo);
        }
        if (unpack_dir != NULL) {
            char name[4096];
            snprintf(name, sizeof name, "%s/seed-%04d", unpack_dir, lineno);
            FILE* out = fopen(name, "wb");
            if (out == NULL || fwrite(buf, 1, n, out) != n) {
                perror(name);
                failed = 1;
            }
            if (out) fclose(out);
        } else {
            LLVMFuzzerTestOneInput(buf, n);
        }
        (*count)++;
        continue;
    bad:
        fprintf(stderr, "%s:%d: not a line of hex digits\n", path, lineno);
        failed = 1;
    }
    fclose(f);
    return failed;
}

static int ends_with(const char* s, const char* tail) {
    size_t a = strlen(s), b = strlen(tail);
    return a >= b && strcmp(s + a - b, tail) == 0;
}

static int compare(const void* a, const void* b) {
    return strcmp(*(char* const*)a, *(char* const*)b);
}

int main(int argc, char** argv) {
    int failed = 0, count = 0;
    if (argc == 4 && strcmp(argv[1], "-unpack") == 0) {
        failed = replay_hex(argv[2], argv[3], &count);
        printf("replay: %d input(s) unpacked into %s\n", count, argv[3]);
        return failed;
    }
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            perror(argv[i]);
            return 1;
        }
        if (!S_ISDIR(st.st_mode) && ends_with(argv[i], ".hex")) {
            failed |= replay_hex(argv[i], NULL, &count);
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            failed |= replay_file(argv[i]);
            count++;
            continue;
        }
        DIR* dir = opendir(argv[i]);
        if (dir == NULL) {
            perror(argv[i]);
            return 1;
        }
        char** names = NULL;
        size_t n = 0;
        for (struct dirent* e; (e = readdir(dir)) != NULL;) {
            if (e->d_name[0] == '.') continue;
            char** grown = realloc(names, (n + 1) * sizeof(*names));
            if (grown == NULL) break;
            names = grown;
            size_t len = strlen(argv[i]) + strlen(e->d_name) + 2;
            names[n] = malloc(len);
            if (names[n] == NULL) break;
            snprintf(names[n++], len, "%s/%s", argv[i], e->d_name);
        }
        closedir(dir);
        if (n > 1) qsort(names, n, sizeof(*names), compare); /* deterministic order */
        for (size_t j = 0; j < n; j++) {
            failed |= replay_file(names[j]);
            count++;
            free(names[j]);
        }
        free(names);
    }
    printf("replay: %d input(s) ran\n", count);
    return failed;
}
