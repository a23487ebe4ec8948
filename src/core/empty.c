/* Placeholder so that a layer with no sources yet still forms a library. */
typedef int cinder_empty_translation_unit;
