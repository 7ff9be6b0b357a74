/* fault.c - FIXGW_TEST_FAULTS parsing (see fault.h). */
#include "net/fault.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAULTS_MAX 8

struct fault {
	char name[32];
	long value;
};

static struct fault faults[FAULTS_MAX];
static int nfaults;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void parse(void)
{
	const char *env = getenv("FIXGW_TEST_FAULTS");
	if (!env)
		return;
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", env);
	char *save = NULL;
	for (char *tok = strtok_r(buf, ",", &save); tok && nfaults < FAULTS_MAX;
	     tok = strtok_r(NULL, ",", &save)) {
		struct fault *f = &faults[nfaults++];
		char *eq = strchr(tok, '=');
		if (eq) {
			*eq = '\0';
			f->value = strtol(eq + 1, NULL, 10);
		}
		snprintf(f->name, sizeof(f->name), "%s", tok);
	}
}

bool fault_active(const char *name, long *value)
{
	pthread_once(&once, parse);
	for (int i = 0; i < nfaults; i++)
		if (!strcmp(faults[i].name, name)) {
			if (value)
				*value = faults[i].value;
			return true;
		}
	return false;
}
