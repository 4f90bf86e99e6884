CREATE VIEW sales.open_orders AS SELECT id, customer_id, total FROM sales.orders WHERE status <> 'shipped';
