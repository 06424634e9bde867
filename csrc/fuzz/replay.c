/* Replays saved fuzz inputs through LLVMFuzzerTestOneInput without libFuzzer, so the seed
   corpus and every regression input run under any compiler (and its sanitizers) in CI.
   Usage: replay FILE_OR_DIR...   (exit 0 when all inputs ran; a failed oracle aborts) */
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

static int compare(const void* a, const void* b) {
    return strcmp(*(char* const*)a, *(char* const*)b);
}

int main(int argc, char** argv) {
    int failed = 0, count = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            perror(argv[i]);
            return 1;
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
        qsort(names, n, sizeof(*names), compare); /* deterministic order */
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
