/** The named fields of an API record: the table lives with the query layer, which resolves them in filters too. */
export { NAMED_FIELDS, type NamedField, type NamedFieldEntry } from '../store/named-fields.js';
