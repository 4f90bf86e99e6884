CREATE FUNCTION sales.customer_total(c integer) RETURNS numeric LANGUAGE sql STABLE
  AS $$ SELECT coalesce(sum(total), 0) FROM sales.orders WHERE customer_id = c $$;
