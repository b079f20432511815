// The login page: exchanges username and password for a bearer token, kept in sessionStorage
// for the map page (a closed tab forgets it).
document.getElementById('login-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const err = document.getElementById('login-error');
  err.textContent = '';
  try {
    const res = await fetch('/api/v1/auth/login', {
      method: 'POST',
      headers: {'Content-Type': 'application/json', 'Accept-Language': 'zh-CN'},
      body: JSON.stringify({
        username: document.getElementById('username').value.trim(),
        password: document.getElementById('password').value,
      }),
    });
    const body = await res.json();
    if (!res.ok) {
      err.textContent = (body.error && body.error.message) || '登录失败';
      return;
    }
    sessionStorage.setItem('sieve.token', body.token);
    location.href = '/map';
  } catch (e) {
    err.textContent = '无法连接服务器';
  }
});
