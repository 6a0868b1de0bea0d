/*
 * Parses a libconfig file with the libconfig library (the parser ProxySQL itself uses for
 * proxysql.cnf) and prints the whole tree as JSON, each setting with its libconfig type:
 *
 *   {"type":"group","children":[{"name":"datadir","type":"string","value":"..."}, ...]}
 *
 * Types: group, list, array, int, int64, float, string, bool. String values are printed with
 * every byte outside printable ASCII (and '"', '\\') as \u00XX, so the reader can recover the
 * exact bytes (decode as latin1). Exit status 1 and the parser's message on stderr when the
 * file does not parse.
 *
 * Build: gcc -std=c99 -Wall -Wextra -Werror -o libconfig-check libconfig-check.c -lconfig
 */
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>

static void print_json_string(const char *s) {
  putchar('"');
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\' || *p < 0x20 || *p >= 0x7f) {
      printf("\\u%04x", *p);
    } else {
      putchar(*p);
    }
  }
  putchar('"');
}

static const char *type_name(int type) {
  switch (type) {
    case CONFIG_TYPE_GROUP: return "group";
    case CONFIG_TYPE_LIST: return "list";
    case CONFIG_TYPE_ARRAY: return "array";
    case CONFIG_TYPE_INT: return "int";
    case CONFIG_TYPE_INT64: return "int64";
    case CONFIG_TYPE_FLOAT: return "float";
    case CONFIG_TYPE_STRING: return "string";
    case CONFIG_TYPE_BOOL: return "bool";
    default: return "unknown";
  }
}

static void print_setting(const config_setting_t *setting) {
  int type = config_setting_type(setting);
  const char *name = config_setting_name(setting);
  printf("{");
  if (name != NULL) {
    printf("\"name\":");
    print_json_string(name);
    printf(",");
  }
  printf("\"type\":\"%s\"", type_name(type));
  switch (type) {
    case CONFIG_TYPE_GROUP:
    case CONFIG_TYPE_LIST:
    case CONFIG_TYPE_ARRAY: {
      int n = config_setting_length(setting);
      printf(",\"children\":[");
      for (int i = 0; i < n; i++) {
        if (i > 0) printf(",");
        print_setting(config_setting_get_elem(setting, (unsigned int)i));
      }
      printf("]");
      break;
    }
    case CONFIG_TYPE_INT:
      printf(",\"value\":%d", config_setting_get_int(setting));
      break;
    case CONFIG_TYPE_INT64:
      printf(",\"value\":%lld", config_setting_get_int64(setting));
      break;
    case CONFIG_TYPE_FLOAT:
      printf(",\"value\":%.17g", config_setting_get_float(setting));
      break;
    case CONFIG_TYPE_STRING:
      printf(",\"value\":");
      print_json_string(config_setting_get_string(setting));
      break;
    case CONFIG_TYPE_BOOL:
      printf(",\"value\":%s", config_setting_get_bool(setting) ? "true" : "false");
      break;
    default:
      break;
  }
  printf("}");
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s FILE\n", argv[0]);
    return 2;
  }
  config_t cfg;
  config_init(&cfg);
  if (config_read_file(&cfg, argv[1]) != CONFIG_TRUE) {
    fprintf(stderr, "%s:%d: %s\n", config_error_file(&cfg) ? config_error_file(&cfg) : argv[1],
            config_error_line(&cfg), config_error_text(&cfg));
    config_destroy(&cfg);
    return 1;
  }
  print_setting(config_root_setting(&cfg));
  putchar('\n');
  config_destroy(&cfg);
  return 0;
}
