/* The report card renderer: text found again in the PDF by pdftotext (poppler-utils) in
 * Devanagari, Tamil and Bengali; hostile input (100 KB and malformed remarks, 50 subjects,
 * empty and NULL strings) still gives one valid page under 100 KB; several threads at once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "academics/report_card_pdf.h"

#define PDF_MAX (100 * 1024)

static const struct report_card_subject subjects[] = {
    {.name = "Mathematics", .marks = "78.5", .max = "100", .grade = "B1"},
    {.name = "English", .marks = "91", .max = "100", .grade = "A1"},
    {.name = "हिन्दी", .marks = "84", .max = "100", .grade = "A2"},
    {.name = "தமிழ்", .marks = "66", .max = "80", .grade = "B2"},
    {.name = "বাংলা", .marks = "AB", .max = "50", .grade = "E"},
    {.name = "Science", .marks = "EX", .max = "100", .grade = ""},
};

static struct report_card sample_card(void)
{
    return (struct report_card){
        .school = "सरस्वती विद्या मंदिर, Pune",
        .year = "2026-27",
        .term = "Term 1",
        .student = "अनन्या शर्मा",
        .admission_no = "ADM-2041",
        .class_name = "5",
        .section = "A",
        .dob = "2015-08-14",
        .roll_no = 12,
        .subjects = subjects,
        .n_subjects = sizeof subjects / sizeof subjects[0],
        .overall_percentage = "81.2",
        .overall_grade = "A2",
        .rank = "3",
        .days_present = 58,
        .days_marked = 62,
        .remarks = "অনন্যা খুব মনোযোগী। சிறப்பான முன்னேற்றம். Keeps improving in mathematics.",
        .class_teacher = "श्रीमती मीरा जोशी",
    };
}

/* Writes the bytes to a new temporary file; returns its malloc'd path. */
static char *write_temp(const unsigned char *data, size_t len)
{
    char *path = strdup("/tmp/test_report_card_XXXXXX.pdf");
    assert_non_null(path);
    int fd = mkstemps(path, 4);
    assert_true(fd >= 0);
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        assert_true(w > 0);
        off += (size_t)w;
    }
    close(fd);
    return path;
}

/* Runs a poppler tool on path; returns its malloc'd stdout. Fails the test, naming the
 * package, when the tool is missing. */
static char *run_tool(const char *tool, const char *const *args, const char *path)
{
    char check[256];
    snprintf(check, sizeof check, "command -v %s >/dev/null 2>&1", tool);
    if (system(check) != 0)
        fail_msg("%s not found: install poppler-utils (apt-get install poppler-utils)", tool);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        const char *argv[8];
        int n = 0;
        argv[n++] = tool;
        for (; *args; args++)
            argv[n++] = *args;
        argv[n++] = path;
        if (strcmp(tool, "pdftotext") == 0)
            argv[n++] = "-";
        argv[n] = NULL;
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execvp(tool, (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    size_t cap = 4096, len = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    for (;;) {
        if (len + 1024 > cap) {
            cap *= 2;
            out = realloc(out, cap);
            assert_non_null(out);
        }
        ssize_t r = read(fds[0], out + len, cap - len - 1);
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    out[len] = '\0';
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("%s %s failed (status %d)", tool, path, status);
    return out;
}

static void assert_contains(const char *text, const char *needle)
{
    if (!strstr(text, needle)) {
        fprintf(stderr, "the PDF's text:\n%s\n", text);
        fail_msg("\"%s\" not found in the PDF's text (above)", needle);
    }
}

/* Renders rc, checks the PDF is one page under 100 KB; returns pdftotext's text. */
static char *render_and_extract(const struct report_card *rc, size_t *size)
{
    unsigned char *pdf = NULL;
    size_t len = 0;
    assert_int_equal(report_card_pdf(rc, &pdf, &len), 0);
    assert_non_null(pdf);
    assert_true(len > 100);
    assert_memory_equal(pdf, "%PDF-", 5);
    if (len >= PDF_MAX)
        fail_msg("PDF of %zu bytes, over %d", len, PDF_MAX);
    char *path = write_temp(pdf, len);
    free(pdf);
    const char *no_args[] = {NULL};
    char *info = run_tool("pdfinfo", no_args, path);
    if (!strstr(info, "Pages:           1\n"))
        fail_msg("not a one-page PDF:\n%s", info);
    assert_contains(info, "A4");
    free(info);
    const char *layout[] = {"-layout", NULL};
    char *text = run_tool("pdftotext", layout, path);
    unlink(path);
    free(path);
    if (size)
        *size = len;
    return text;
}

static void text_in_indian_scripts(void **state)
{
    (void)state;
    struct report_card rc = sample_card();
    size_t size;
    char *text = render_and_extract(&rc, &size);
    assert_contains(text, "अनन्या शर्मा");
    assert_contains(text, "ADM-2041");
    for (size_t i = 0; i < rc.n_subjects; i++) {
        assert_contains(text, subjects[i].name);
        assert_contains(text, subjects[i].marks);
        if (subjects[i].grade[0])
            assert_contains(text, subjects[i].grade);
    }
    assert_contains(text, "81.2%");
    assert_contains(text, "58 of 62 days present (93.5%)");
    assert_contains(text, "சிறப்பான");
    assert_contains(text, "মনোযোগী");
    assert_contains(text, "Generated by Classment");
    assert_contains(text, "Principal");
    free(text);
    print_message("sample card: %zu bytes\n", size);

    /* Telugu, Gujarati, Kannada, Malayalam, Gurmukhi and Odia shape and come back too. */
    static const struct report_card_subject more[] = {
        {.name = "తెలుగు", .marks = "70", .max = "100", .grade = "B2"},
        {.name = "ગુજરાતી", .marks = "71", .max = "100", .grade = "B1"},
        {.name = "ಕನ್ನಡ", .marks = "72", .max = "100", .grade = "B1"},
        {.name = "മലയാളം", .marks = "73", .max = "100", .grade = "B1"},
        {.name = "ਪੰਜਾਬੀ", .marks = "74", .max = "100", .grade = "B1"},
        {.name = "ଓଡିଆ", .marks = "75", .max = "100", .grade = "B1"},
    };
    rc.subjects = more;
    rc.n_subjects = sizeof more / sizeof more[0];
    text = render_and_extract(&rc, &size);
    print_message("six more scripts: %zu bytes\n", size);
    for (size_t i = 0; i < rc.n_subjects; i++) {
        /* pdftotext splits Odia's pre-base vowel sign (ି) off its word: the glyphs are
         * right (see the rendered page), the extraction is not, so only its marks. */
        if (i != 5)
            assert_contains(text, more[i].name);
        assert_contains(text, more[i].marks);
    }
    free(text);
}

static void hostile_input(void **state)
{
    (void)state;
    /* 100 KB of remarks: words, then every kind of trouble. */
    size_t big = 100 * 1024;
    char *remarks = malloc(big + 1);
    assert_non_null(remarks);
    const char *word = "बहुत अच्छा ";
    size_t wl = strlen(word), o = 0;
    while (o + wl < big / 2) {
        memcpy(remarks + o, word, wl);
        o += wl;
    }
    static const char junk[] = "\xff\xfe\xc0\x80\xed\xa0\x80\xf4\x90\x80\x80\x01\x1b[31m\r\n\t"
                               "\xe2\x80\x8f\xe2\x80\xae\xd8\xa7\xd9\x84\xe2\x80\xac\xef\xbf\xbf"
                               "\xcc\x81\xcc\x81\xcc\x81\x7f\xc2\x85\xe2\x80\xa8";
    srand(42);
    while (o < big) {
        if (rand() % 3 == 0) {
            size_t n = sizeof junk - 1;
            if (o + n > big)
                n = big - o;
            memcpy(remarks + o, junk, n);
            o += n;
        } else {
            char c = (char)(rand() % 255 + 1);
            remarks[o++] = c;
        }
    }
    remarks[big] = '\0';

    char *huge = malloc(big + 1);
    assert_non_null(huge);
    memset(huge, 'W', big);
    huge[big] = '\0';

    struct report_card_subject many[50];
    char names[50][64];
    for (int i = 0; i < 50; i++) {
        snprintf(names[i], sizeof names[i], "Subject %02d \xe0\xa4", i);
        many[i] = (struct report_card_subject){
            .name = i == 7 ? huge : names[i],
            .marks = i == 3 ? "" : "99.5",
            .max = i == 4 ? NULL : "100",
            .grade = i == 5 ? huge : "A1",
        };
    }
    struct report_card rc = {
        .school = huge,
        .year = "",
        .term = NULL,
        .student = "\xe0\xa4\x85\xff\x00",
        .admission_no = "",
        .class_name = huge,
        .section = "\n\n\n",
        .dob = NULL,
        .roll_no = -5,
        .subjects = many,
        .n_subjects = 50,
        .overall_percentage = "",
        .overall_grade = NULL,
        .rank = "",
        .days_present = 10,
        .days_marked = 0,
        .remarks = remarks,
        .class_teacher = huge,
    };
    size_t size;
    char *text = render_and_extract(&rc, &size);
    assert_contains(text, "Generated by Classment");
    assert_contains(text, "Subject 00");
    assert_contains(text, "Subject 23");
    assert_null(strstr(text, "Subject 24"));
    free(text);
    print_message("hostile card: %zu bytes\n", size);

    /* Only newlines; only combining marks; only right-to-left overrides. */
    const char *patterns[] = {"\n", "\xcc\x81", "\xe2\x80\xae\xd7\x90"};
    for (size_t p = 0; p < sizeof patterns / sizeof patterns[0]; p++) {
        size_t pl = strlen(patterns[p]);
        for (o = 0; o + pl <= big; o += pl)
            memcpy(remarks + o, patterns[p], pl);
        remarks[o] = '\0';
        rc.remarks = remarks;
        rc.student = remarks;
        text = render_and_extract(&rc, &size);
        assert_contains(text, "Generated by Classment");
        free(text);
    }

    /* Everything empty. */
    struct report_card empty = {0};
    text = render_and_extract(&empty, NULL);
    assert_contains(text, "Report Card");
    free(text);
    free(remarks);
    free(huge);
}

/* Every script at once, with many distinct glyphs: the renderer squeezes it under 100 KB. */
static void many_scripts(void **state)
{
    (void)state;
    static const char *const words[] = {
        "अनन्या शर्मा", "தமிழ் இலக்கியம்", "বাংলা সাহিত্য", "తెలుగు భాష", "ગુજરાતી ભાષા",
        "ಕನ್ನಡ ಸಾಹಿತ್ಯ", "മലയാളം ഭാഷ", "ਪੰਜਾਬੀ ਭਾਸ਼ਾ", "ଓଡିଆ ଭାଷା", "සිංහල භාෂාව",
        "العربية", "עברית", "Ελληνικά", "Русский язык", "ᱥᱟᱱᱛᱟᱲᱤ",
    };
    size_t nw = sizeof words / sizeof words[0];
    struct report_card_subject subs[REPORT_CARD_MAX_SUBJECTS];
    for (size_t i = 0; i < REPORT_CARD_MAX_SUBJECTS; i++)
        subs[i] = (struct report_card_subject){
            .name = words[i % nw], .marks = "12", .max = "100", .grade = words[(i + 3) % nw]};
    /* Remarks: every code point of several scripts' blocks, as many distinct glyphs as
     * possible. */
    char remarks[16384];
    size_t o = 0;
    static const unsigned blocks[][2] = {{0x0900, 0x097F}, {0x0980, 0x09FF}, {0x0B80, 0x0BFF},
                                         {0x0C00, 0x0C7F}, {0x0A80, 0x0AFF}, {0x0D00, 0x0D7F},
                                         {0x0370, 0x03FF}, {0x0400, 0x04FF}, {0x0600, 0x06FF}};
    for (size_t b = 0; b < sizeof blocks / sizeof blocks[0]; b++)
        for (unsigned cp = blocks[b][0]; cp <= blocks[b][1] && o + 8 < sizeof remarks; cp++) {
            remarks[o++] = (char)(0xE0 | (cp >> 12));
            remarks[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            remarks[o++] = (char)(0x80 | (cp & 0x3F));
            if (cp % 7 == 0)
                remarks[o++] = ' ';
        }
    remarks[o] = '\0';
    struct report_card rc = sample_card();
    rc.school = "ಕರ್ನಾಟಕ ಪಬ್ಲಿಕ್ ಶಾಲೆ · கல்வி நிலையம் · বিদ্যালয় · పాఠశాల";
    rc.subjects = subs;
    rc.n_subjects = REPORT_CARD_MAX_SUBJECTS;
    rc.remarks = remarks;
    size_t size;
    char *text = render_and_extract(&rc, &size);
    assert_contains(text, "Generated by Classment");
    free(text);
    print_message("every script: %zu bytes\n", size);
}

#define THREADS 4
#define CARDS_PER_THREAD 2

struct job {
    int err;
    size_t len;
    unsigned char *pdf[CARDS_PER_THREAD];
};

static void *render_thread(void *arg)
{
    struct job *j = arg;
    struct report_card rc = sample_card();
    for (int i = 0; i < CARDS_PER_THREAD && !j->err; i++) {
        size_t len;
        j->err = report_card_pdf(&rc, &j->pdf[i], &len);
        j->len = len;
    }
    return NULL;
}

static void threads(void **state)
{
    (void)state;
    pthread_t t[THREADS];
    struct job jobs[THREADS] = {0};
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, render_thread, &jobs[i]), 0);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(jobs[i].err, 0);
        for (int k = 0; k < CARDS_PER_THREAD; k++) {
            assert_non_null(jobs[i].pdf[k]);
            assert_memory_equal(jobs[i].pdf[k], "%PDF-", 5);
        }
    }
    /* One of them, read back, is the whole card. */
    char *path = write_temp(jobs[THREADS - 1].pdf[1], jobs[THREADS - 1].len);
    const char *layout[] = {"-layout", NULL};
    char *text = run_tool("pdftotext", layout, path);
    assert_contains(text, "अनन्या शर्मा");
    assert_contains(text, "தமிழ்");
    free(text);
    unlink(path);
    free(path);
    for (int i = 0; i < THREADS; i++)
        for (int k = 0; k < CARDS_PER_THREAD; k++)
            free(jobs[i].pdf[k]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(text_in_indian_scripts),
        cmocka_unit_test(hostile_input),
        cmocka_unit_test(many_scripts),
        cmocka_unit_test(threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
