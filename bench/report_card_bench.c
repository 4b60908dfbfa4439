/* report_card_bench: renders N report cards on T threads (no database, no server) and prints
 * cards per second, the time per card and the PDF sizes. The cards vary by student: names and
 * remarks in Devanagari, Tamil, Bengali, Telugu and Latin, 8 to 14 subjects.
 *   report_card_bench [-n CARDS] [-t THREADS] [-o FILE.pdf]   (-o: also write the first card) */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "academics/report_card_pdf.h"

static const char *const names[] = {
    "अनन्या शर्मा", "கார்த்திக் சுப்ரமணியன்", "সৌমিত্র চট্টোপাধ্যায়", "వెంకట లక్ష్మి",
    "Aarav Mehta", "ઋષિ પટેલ",
};
static const char *const remarks[] = {
    "अनन्या कक्षा में बहुत ध्यान देती है। गणित में और अभ्यास की आवश्यकता है।",
    "சிறப்பான முன்னேற்றம். வகுப்பில் ஆர்வமாக பங்கேற்கிறார்.",
    "খুব মনোযোগী ছাত্র। বিজ্ঞানে আরও মনোযোগ দরকার।",
    "Works hard and helps classmates; should read more outside class and practise "
    "handwriting. A pleasure to teach this term.",
};
static const char *const subject_names[] = {
    "English", "हिन्दी", "Mathematics", "Science", "Social Science", "தமிழ்", "বাংলা",
    "Computer Science", "Art", "Physical Education", "Sanskrit", "Music", "EVS", "General Knowledge",
};
static const char *const grades[] = {"A1", "A2", "B1", "B2", "C1", "C2", "D", "E"};

static int n_cards = 1000, n_threads = 2;
static const char *out_file;
static atomic_int next_card;

struct worker {
    pthread_t thread;
    int done, failed;
    size_t max_len, total_len;
    double max_ms;
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void *work(void *arg)
{
    struct worker *w = arg;
    char marks[14][16], adm[32];
    struct report_card_subject subjects[14];
    for (;;) {
        int i = atomic_fetch_add(&next_card, 1);
        if (i >= n_cards)
            break;
        size_t n = 8 + (size_t)(i % 7);
        for (size_t s = 0; s < n; s++) {
            int m = (i * 7 + (int)s * 13) % 101;
            snprintf(marks[s], sizeof marks[s], "%d", m);
            subjects[s] = (struct report_card_subject){
                .name = subject_names[s], .marks = marks[s], .max = "100",
                .grade = grades[(100 - m) / 13 % 8]};
        }
        snprintf(adm, sizeof adm, "ADM-%05d", i);
        struct report_card rc = {
            .school = "Kendriya Vidyalaya No. 2, सरस्वती नगर",
            .year = "2026-27",
            .term = "Term 1",
            .student = names[i % 6],
            .admission_no = adm,
            .class_name = "5",
            .section = "A",
            .dob = "2015-08-14",
            .roll_no = i % 40 + 1,
            .subjects = subjects,
            .n_subjects = n,
            .overall_percentage = "81.2",
            .overall_grade = "A2",
            .rank = i % 2 ? "4" : NULL,
            .days_present = 55 + i % 7,
            .days_marked = 62,
            .remarks = remarks[i % 4],
            .class_teacher = "श्रीमती मीरा जोशी",
        };
        unsigned char *pdf;
        size_t len;
        double t0 = now_ms();
        int err = report_card_pdf(&rc, &pdf, &len);
        double ms = now_ms() - t0;
        if (err) {
            w->failed++;
            continue;
        }
        if (i == 0 && out_file) {
            FILE *f = fopen(out_file, "wb");
            if (f) {
                fwrite(pdf, 1, len, f);
                fclose(f);
            }
        }
        free(pdf);
        w->done++;
        w->total_len += len;
        if (len > w->max_len)
            w->max_len = len;
        if (ms > w->max_ms)
            w->max_ms = ms;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int opt;
    while ((opt = getopt(argc, argv, "n:t:o:")) != -1) {
        switch (opt) {
        case 'n': n_cards = atoi(optarg); break;
        case 't': n_threads = atoi(optarg); break;
        case 'o': out_file = optarg; break;
        default:
            fprintf(stderr, "usage: %s [-n CARDS] [-t THREADS] [-o FILE.pdf]\n", argv[0]);
            return 2;
        }
    }
    if (n_cards < 1 || n_threads < 1 || n_threads > 64) {
        fprintf(stderr, "bad -n or -t\n");
        return 2;
    }
    struct worker *w = calloc((size_t)n_threads, sizeof *w);
    if (!w)
        return 1;
    double t0 = now_ms();
    for (int i = 0; i < n_threads; i++)
        if (pthread_create(&w[i].thread, NULL, work, &w[i]) != 0)
            return 1;
    int done = 0, failed = 0;
    size_t max_len = 0, total = 0;
    double max_ms = 0;
    for (int i = 0; i < n_threads; i++) {
        pthread_join(w[i].thread, NULL);
        done += w[i].done, failed += w[i].failed, total += w[i].total_len;
        if (w[i].max_len > max_len)
            max_len = w[i].max_len;
        if (w[i].max_ms > max_ms)
            max_ms = w[i].max_ms;
    }
    double secs = (now_ms() - t0) / 1e3;
    printf("report_card_bench: %d cards on %d threads in %.2f s: %.1f cards/s, "
           "%.1f ms/card/thread avg, %.1f ms max (first card per thread includes its font map); "
           "PDF avg %.1f KB, max %.1f KB; %d failed\n",
           done, n_threads, secs, done / secs, secs * 1e3 * n_threads / (done ? done : 1),
           max_ms, done ? total / 1024.0 / done : 0.0, max_len / 1024.0, failed);
    free(w);
    return failed ? 1 : 0;
}
