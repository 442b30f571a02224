#ifndef MP_TEST_CONFIG_SAMPLES_H
#define MP_TEST_CONFIG_SAMPLES_H

/* Most sample values one custom directive has; the list ends early with NULL. */
#define CONFIG_SAMPLES_MAX 16

/* The sample values of custom directive name, or NULL when it has none. */
const char *const *config_custom_samples(const char *name);

#endif
