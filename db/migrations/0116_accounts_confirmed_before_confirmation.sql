-- A self-registered account now signs in only once its address is confirmed through a mailed link. The accounts made
-- before there was a link to follow have been signing in: they count as confirmed, or their owners would be shut out.
UPDATE account_users SET "EmailConfirmed" = true WHERE NOT "EmailConfirmed";
