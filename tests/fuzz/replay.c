/*
 * The test suite's driver of a fuzz target: runs it once on each file
 * named, or each file in each directory named (a corpus: the seeds and
 * every input that once found a fault).  A failed check aborts; otherwise
 * prints how many inputs ran and exits 0.  Without libFuzzer: scripts/fuzz
 * builds the targets with it, to look for new inputs.
 */
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static unsigned long replayed;

static void replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        exit(2);
    }
    size_t cap = 4096, len = 0;
    uint8_t *data = malloc(cap), *more;
    for (size_t n; data != NULL && (n = fread(data + len, 1, cap - len, f)) > 0;) {
        len += n;
        if (len < cap)
            continue;
        more = realloc(data, cap *= 2);
        if (more == NULL)
            free(data);
        data = more;
    }
    if (data == NULL || ferror(f)) {
        fprintf(stderr, "replay: %s: cannot read\n", path);
        exit(2);
    }
    fclose(f);
    LLVMFuzzerTestOneInput(data, len);
    free(data);
    replayed++;
}

/* In name order, so that a failure names the same input every run. */
static void replay_dir(const char *dir)
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    if (n < 0) {
        fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
        exit(2);
    }
    for (int i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
        struct stat st;
        if (names[i]->d_name[0] != '.' && stat(path, &st) == 0 && S_ISREG(st.st_mode))
            replay_file(path);
        free(names[i]);
    }
    free(names);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
            replay_dir(argv[i]);
        else
            replay_file(argv[i]);
    }
    if (replayed == 0) {
        fprintf(stderr, "replay: no input\n");
        return 2;
    }
    printf("%lu inputs replayed, every check held\n", replayed);
    return 0;
}
